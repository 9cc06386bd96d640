/* core/plugin.c - the plugin loader: a backend table from a shared object's versioned entry point. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmsim/plugin.h>

enum { PLUGIN_MAX_BYTES = 256 << 20, PLUGIN_MAX_PHDRS = 256 };

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#endif

/* Why fd cannot be a shared object for this host, or NULL: a regular file with a 64-bit little-endian
 * ELF header of type ET_DYN for this machine, whose program and section headers and every segment's file
 * bytes lie inside the file. dlopen maps segments without these checks: a truncated object is SIGBUS. */
static const char *not_a_plugin(int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return "cannot stat";
	if (!S_ISREG(st.st_mode))
		return "not a regular file";
	if (st.st_size > PLUGIN_MAX_BYTES)
		return "larger than 256 MiB";
	uint64_t size = (uint64_t)st.st_size;
	Elf64_Ehdr eh;
	if (size < sizeof eh || pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh)
		return "too short for an ELF header";
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return "not an ELF file";
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return "not a 64-bit little-endian ELF file";
	if (eh.e_type != ET_DYN)
		return "not a shared object (ELF type is not ET_DYN)";
#ifdef HOST_MACHINE
	if (eh.e_machine != HOST_MACHINE)
		return "built for another machine";
#endif
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > PLUGIN_MAX_PHDRS)
		return "bad program header table";
	if (eh.e_phoff > size || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
		return "truncated: the program headers lie beyond the end of the file";
	if (eh.e_shnum && (eh.e_shoff > size || (uint64_t)eh.e_shnum * eh.e_shentsize > size - eh.e_shoff))
		return "truncated: the section headers lie beyond the end of the file";
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph)
			return "cannot read a program header";
		if (ph.p_type == PT_LOAD && (ph.p_offset > size || ph.p_filesz > size - ph.p_offset))
			return "truncated: a loadable segment lies beyond the end of the file";
	}
	return NULL;
}

/*
 * The object stays loaded for the life of the process: the env keeps pointers into it
 * (ops, names) and has no unload hook, and dlopen's refcount makes a second load of the
 * same path free. A table that fails registration is unloaded again.
 */
enum vmsim_result vmsim_env_load_backend(struct vmsim_env *env, const char *path,
                                         const struct vmsim_backend_ops **out)
{
	if (out)
		*out = NULL;
	if (!env || !path || !*path)
		return VMSIM_INVALID_ARGUMENT;
	/* checked before dlopen; then the very file checked is loaded, through its descriptor */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int err = errno;
		vmsim_env_log(env, VMSIM_LOG_ERROR, "backend plugin %s: cannot open: %s", path, strerror(err));
		return VMSIM_INVALID_ARGUMENT;
	}
	const char *why = not_a_plugin(fd);
	if (why) {
		vmsim_env_log(env, VMSIM_LOG_ERROR, "backend plugin %s: %s", path, why);
		close(fd);
		return VMSIM_INVALID_ARGUMENT;
	}
	char by_fd[32];
	snprintf(by_fd, sizeof by_fd, "/proc/self/fd/%d", fd);
	void *handle = dlopen(access(by_fd, F_OK) == 0 ? by_fd : path, RTLD_NOW | RTLD_LOCAL);
	close(fd);
	if (!handle) {
		vmsim_env_log(env, VMSIM_LOG_ERROR, "backend plugin %s: %s", path, dlerror());
		return VMSIM_INVALID_ARGUMENT;
	}
	/* POSIX guarantees a void * from dlsym converts to a function pointer. */
	vmsim_backend_entry_fn entry;
	*(void **)&entry = dlsym(handle, VMSIM_BACKEND_ENTRY_SYMBOL);
	const struct vmsim_backend_ops *ops = entry ? entry() : NULL;
	if (!ops) {
		vmsim_env_log(env, VMSIM_LOG_ERROR, "backend plugin %s: no %s or it returned NULL", path,
		              VMSIM_BACKEND_ENTRY_SYMBOL);
		dlclose(handle);
		return VMSIM_INVALID_ARGUMENT;
	}
	/* Loading the same object into a second env finds the same table: not a duplicate to refuse. */
	if (ops->name && vmsim_env_backend(env, ops->name) == ops) {
		if (out)
			*out = ops;
		return VMSIM_OK;
	}
	enum vmsim_result result = vmsim_env_register_backend(env, ops);
	if (result != VMSIM_OK) {
		vmsim_env_log(env, VMSIM_LOG_ERROR, "backend plugin %s: registration refused (%s)", path,
		              vmsim_result_name(result));
		dlclose(handle);
		return result;
	}
	if (out)
		*out = ops;
	return VMSIM_OK;
}
