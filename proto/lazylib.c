/* lazylib.c: opening a library when it is first needed (lazylib.h). */
#include "lazylib.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

void *bd_lazy_open(const char *path, const char *soname, char *err,
		   size_t err_len)
{
	/* The path configure found keeps a packaged build's dependency on
	 * the exact library (a Nix store path); the soname lets the
	 * dynamic linker find it where a distribution moved it. Lazy
	 * binding, as for a library linked in: RTLD_NOW resolved all of
	 * libxml2's and ICU's symbols up front, a millisecond of CPU per
	 * load, though the resolver looks up the few we call. */
	void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		snprintf(err, err_len, "cannot load %s: %s", soname, dlerror());
	return h;
}

int bd_lazy_load(const char *path, const char *soname,
		 const char *(*resolve)(void *handle), char *err,
		 size_t err_len)
{
	void *h = bd_lazy_open(path, soname, err, err_len);
	if (!h)
		return -ELIBACC;
	const char *missing = resolve(h);
	if (missing) {
		snprintf(err, err_len, "%s lacks %s", soname, missing);
		dlclose(h);
		return -ELIBBAD;
	}
	return 0;
}

int bd_lazy_load_once(bool *loaded, const char *path, const char *soname,
		      const char *(*resolve)(void *handle), char *err,
		      size_t err_len)
{
	if (*loaded)
		return 0;
	int rc = bd_lazy_load(path, soname, resolve, err, err_len);
	*loaded = rc == 0;
	return rc;
}
