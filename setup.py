"""Build of the optional compiled SGT kernel (musicexp.features.sgt._kernel, Cython), and the package
list: every package under musicexp/ found by setuptools' discovery (a new subpackage ships without
being listed) plus conf/, shipped as musicexp.conf. All other metadata is in pyproject.toml. `pip install -e .` / `pip install .` build it (Cython comes from
[build-system] requires); without a C compiler the build warns and musicexp falls back to its
numpy kernel (musicexp.features.sgt.kernel). Never add -ffast-math: the kernel relies on IEEE arithmetic."""

from setuptools import Extension, find_packages, setup

try:
    from Cython.Build import cythonize
except ImportError:  # build without isolation and without Cython: numpy kernel only
    import warnings

    warnings.warn("Cython not found: musicexp.features.sgt._kernel is not built (numpy fallback)")
    ext_modules = []
else:
    ext_modules = cythonize(
        [Extension("musicexp.features.sgt._kernel", ["musicexp/features/sgt/_kernel.pyx"], optional=True)],
        compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
    )
    for ext in ext_modules:  # cythonize() drops `optional`: a failed compile only warns
        ext.optional = True

# conf/ is mapped to musicexp.conf in pyproject.toml ([tool.setuptools.package-dir]); its YAML is package data
setup(ext_modules=ext_modules, packages=[*find_packages(include=["musicexp", "musicexp.*"]), "musicexp.conf"])
