/* pyoci.native._lean: the raw calls the runtime process itself makes, as a
 * plain C extension (limited API): importing it maps ~16 KB, against ~0.3 MB
 * for _cffi_backend and pyoci.native._lib.  The typed wrappers are in
 * pyoci/native/lean.py; everything else goes through cffi (pyoci/native/_build.py). */
#define Py_LIMITED_API 0x030B0000
#include <Python.h>
#include <stdio.h>
#include <sys/prctl.h>

/* prctl(option, arg2): the result, or OSError(errno, strerror, "prctl(OPTION)") */
static PyObject *lean_prctl(PyObject *self, PyObject *args) {
    int option;
    unsigned long arg2 = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "i|k", &option, &arg2))
        return NULL;
    int ret = prctl(option, arg2, 0UL, 0UL, 0UL);
    if (ret < 0) {
        char what[32];
        snprintf(what, sizeof what, "prctl(%d)", option);
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, what);
    }
    return PyLong_FromLong(ret);
}

static PyMethodDef lean_methods[] = {
    {"prctl", lean_prctl, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef lean_module = {
    PyModuleDef_HEAD_INIT, "pyoci.native._lean", NULL, -1, lean_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__lean(void) { return PyModule_Create(&lean_module); }
