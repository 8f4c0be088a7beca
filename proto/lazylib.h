/*
 * lazylib.h: libraries a program loads when it first needs them, not at
 * start. A short-lived program (the libvirt hook, Patroni's callback) that
 * links a large library pays for mapping and relocating it, and all it
 * depends on, on every run, though most runs never call it: the hook reads
 * XML (expat) only for the events it acts on, balloonctl edits it
 * (libxml2, which brings ICU and libstdc++) only for enable and disable;
 * nettle is needed only for signed notifications.
 *
 * A user lists the functions it calls in an X-macro, and calls them
 * through a struct of pointers that the library's own headers type:
 *
 *   #define FOO_FUNCS(X) X(foo_open) X(foo_close)
 *   static struct { BD_LAZY_PTRS(FOO_FUNCS) } foo;
 *   BD_LAZY_RESOLVER(resolve_foo, foo, FOO_FUNCS)
 *
 * and bd_lazy_load(FOO_PATH, FOO_SONAME, resolve_foo, ...) opens the
 * library and fills the struct.
 */
#ifndef BALLOOND_LAZYLIB_H
#define BALLOOND_LAZYLIB_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>

#define BD_LAZY_PTR(f)	    __typeof__(&f) f;
#define BD_LAZY_PTRS(FUNCS) FUNCS(BD_LAZY_PTR)

/* Defines static const char *NAME(void *handle), which looks up every
 * function FUNCS lists into the struct s: NULL when all were found, else
 * the name of the first one missing. */
#define BD_LAZY_SYM(f)                                                         \
	if (!(lazy_->f = (__typeof__(lazy_->f))dlsym(handle_, #f)))            \
		return #f;
#define BD_LAZY_RESOLVER(name, s, FUNCS)                                       \
	static const char *name(void *handle_)                                 \
	{                                                                      \
		__typeof__(&(s)) lazy_ = &(s);                                 \
		FUNCS(BD_LAZY_SYM)                                             \
		return NULL;                                                   \
	}

/* dlopen() the library at path, where configure found it, else by its
 * soname. Returns the handle, or NULL with the reason in err. */
void *bd_lazy_open(const char *path, const char *soname, char *err,
		   size_t err_len);

/* bd_lazy_open, then resolve(handle) (a BD_LAZY_RESOLVER). Returns 0, or
 * -ELIBACC (it cannot be loaded) or -ELIBBAD (a function is missing: the
 * library is closed again), with the reason in err. */
int bd_lazy_load(const char *path, const char *soname,
		 const char *(*resolve)(void *handle), char *err,
		 size_t err_len);

/* bd_lazy_load once: *loaded remembers that it succeeded, and a later
 * call returns 0 at once; after a failure the next call tries again. */
int bd_lazy_load_once(bool *loaded, const char *path, const char *soname,
		      const char *(*resolve)(void *handle), char *err,
		      size_t err_len);

#endif
