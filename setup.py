"""Build of the optional compiled kernels (Cython): SGT (musicexp.features.sgt._kernel) and word2vec's
skip-gram (musicexp.features.midi2vec._sgns, -O3 so GCC vectorises its rows, -ffp-contract=off so
no compiler turns a * x + y into an FMA: its numbers must not depend on the CPU's instruction set), and the package
list: every package under musicexp/ found by setuptools' discovery (a new subpackage ships without
being listed) plus conf/, shipped as musicexp.conf. All other metadata is in pyproject.toml. `pip install -e .` / `pip install .` build it (Cython comes from
[build-system] requires); without a C compiler the build warns and musicexp falls back to its
numpy kernels (musicexp.features.sgt.kernel, musicexp.features.midi2vec.sgns). Never add -ffast-math: the
kernels rely on IEEE arithmetic."""

from setuptools import Extension, find_packages, setup

try:
    from Cython.Build import cythonize
except ImportError:  # build without isolation and without Cython: numpy kernel only
    import warnings

    warnings.warn("Cython not found: musicexp.features.sgt._kernel and musicexp.features.midi2vec._sgns are not built"
                  " (numpy fallbacks)")
    ext_modules = []
else:
    ext_modules = cythonize(
        [Extension("musicexp.features.sgt._kernel", ["musicexp/features/sgt/_kernel.pyx"], optional=True),
         Extension("musicexp.features.midi2vec._sgns", ["musicexp/features/midi2vec/_sgns.pyx"], optional=True,
                   extra_compile_args=["-O3", "-ffp-contract=off"])],
        compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
    )
    for ext in ext_modules:  # cythonize() drops `optional`: a failed compile only warns
        ext.optional = True

# conf/ is mapped to musicexp.conf in pyproject.toml ([tool.setuptools.package-dir]); its YAML is package data
setup(ext_modules=ext_modules, packages=[*find_packages(include=["musicexp", "musicexp.*"]), "musicexp.conf"])
