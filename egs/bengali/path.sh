# Environment of a recipe: the project's venv (tools/venv, made by `make -C tools`), the package,
# and the utils. The repository root is found through the utils symlink, so a recipe works
# wherever it lives.
MAIN_ROOT=$(cd "$(dirname "$(readlink -f utils)")" && pwd)
if [ -x "${MAIN_ROOT}/tools/venv/bin/python3" ]; then
  export VIRTUAL_ENV=${MAIN_ROOT}/tools/venv
  export PATH=${VIRTUAL_ENV}/bin:${PATH}
fi
export PYTHONPATH=${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}}
export PATH=${PWD}/utils:${PATH}
# UTF-8 for the Indic text; C.UTF-8 sorts by code point, which is also Kaldi's byte order.
export LC_ALL=C.UTF-8
export PYTHONIOENCODING=UTF-8
