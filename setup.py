"""Build of the optional compiled SGT kernel (musicexp._sgtkernel, Cython). All other metadata
is in pyproject.toml. `pip install -e .` / `pip install .` build it (Cython comes from
[build-system] requires); without a C compiler the build warns and musicexp falls back to its
numpy kernel (musicexp.sgtcore). Never add -ffast-math: the kernel relies on IEEE arithmetic."""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # build without isolation and without Cython: numpy kernel only
    import warnings

    warnings.warn("Cython not found: musicexp._sgtkernel is not built (numpy fallback)")
    ext_modules = []
else:
    ext_modules = cythonize(
        [Extension("musicexp._sgtkernel", ["musicexp/_sgtkernel.pyx"], optional=True)],
        compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
    )
    for ext in ext_modules:  # cythonize() drops `optional`: a failed compile only warns
        ext.optional = True

setup(ext_modules=ext_modules)
