from musicexp.app import main

main()
