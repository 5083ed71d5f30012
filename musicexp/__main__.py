from musicexp.app import cli

cli()
