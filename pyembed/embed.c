//go:build pyembed

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"

static PyThreadState *saved; // the main thread's state while Go runs
static PyObject *call_fn;    // __main__._npshm_call
static PyObject *flush_fn;   // __main__._npshm_flush

// error_text takes the current exception and returns it as a malloc'd
// "Type: message", clearing it.
static char *error_text(const char *what) {
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	const char *name = type ? ((PyTypeObject *)type)->tp_name : "error";
	PyObject *s = value ? PyObject_Str(value) : NULL;
	const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
	if (!msg) {
		PyErr_Clear();
		msg = "";
	}
	size_t n = strlen(what) + strlen(name) + strlen(msg) + 8;
	char *out = malloc(n);
	snprintf(out, n, "%s: %s: %s", what, name, msg);
	Py_XDECREF(s);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	return out;
}

int npe_start(const char *bootstrap, char **err) {
	PyConfig config;
	PyConfig_InitIsolatedConfig(&config);
	config.site_import = 0;             // sys.path comes from the venv, set by bootstrap
	config.install_signal_handlers = 0; // signals stay Go's
	config.parse_argv = 0;
	config.user_site_directory = 0;
	PyStatus st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st)) {
		*err = strdup(st.err_msg ? st.err_msg : "Py_InitializeFromConfig failed");
		return -1;
	}
	PyObject *globals = PyModule_GetDict(PyImport_AddModule("__main__"));
	PyObject *r = PyRun_String(bootstrap, Py_file_input, globals, globals);
	int rc = 0;
	if (!r) {
		*err = error_text("start");
		rc = -1;
	} else {
		Py_DECREF(r);
		call_fn = PyDict_GetItemString(globals, "_npshm_call");
		flush_fn = PyDict_GetItemString(globals, "_npshm_flush");
		Py_XINCREF(call_fn);
		Py_XINCREF(flush_fn);
		if (!call_fn || !flush_fn) {
			*err = strdup("start: bootstrap did not define _npshm_call and _npshm_flush");
			rc = -1;
		}
	}
	saved = PyEval_SaveThread(); // release the GIL while Go runs
	return rc;
}

int npe_call(const char *req, size_t n, char **out, size_t *outn) {
	PyEval_RestoreThread(saved);
	int rc = -1;
	PyObject *arg = PyBytes_FromStringAndSize(req, (Py_ssize_t)n);
	PyObject *r = arg ? PyObject_CallOneArg(call_fn, arg) : NULL;
	char *buf;
	Py_ssize_t len;
	if (r && PyBytes_AsStringAndSize(r, &buf, &len) == 0) {
		*out = malloc(len ? (size_t)len : 1);
		memcpy(*out, buf, (size_t)len);
		*outn = (size_t)len;
		rc = 0;
	} else {
		*out = error_text("call");
	}
	Py_XDECREF(r);
	Py_XDECREF(arg);
	saved = PyEval_SaveThread();
	return rc;
}

int npe_flush(char **err) {
	PyEval_RestoreThread(saved);
	PyObject *r = PyObject_CallNoArgs(flush_fn);
	int rc = 0;
	if (!r) {
		*err = error_text("flush");
		rc = -1;
	}
	Py_XDECREF(r);
	saved = PyEval_SaveThread();
	return rc;
}

const char *npe_version(void) { return Py_GetVersion(); }
