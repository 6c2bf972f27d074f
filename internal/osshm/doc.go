// Package osshm is npshm's one seam with the operating system: every system
// call and every OS-specific path the module uses (open without following
// links, fstat, mmap and page population, flock, xattrs, memfd and seals,
// rename without replace, SCM_RIGHTS, shm_open and shm_unlink, statfs,
// /proc and cgroup reads, futexes) lives here, as cilium/ebpf keeps its
// system calls behind internal/unix. Other packages call these functions
// and import neither golang.org/x/sys/unix nor syscall for shared memory.
//
// Files: *_linux.go for Linux, *_darwin.go (and the shm_open trampolines
// in shm_darwin_*.s) for macOS, file_unix.go for what both share, and
// unsupported.go for every other OS, whose functions return errors
// wrapping errors.ErrUnsupported.
//
// What macOS has and Linux's extras it lacks:
//
//   - shm_open/shm_unlink: on Linux open(2) and unlink(2) under /dev/shm,
//     as glibc does; on macOS libSystem's shm_open, called without cgo
//     through a trampoline (as golang.org/x/sys/unix calls libSystem).
//     macOS objects cannot be listed, renamed, read or written with
//     read(2)/write(2), given xattrs or flocked, their size can be set
//     once only, and fstat reports it rounded up to a page.
//   - memfd and seals, MADV_POPULATE_WRITE, fallocate, /proc, cgroups,
//     PID namespaces and futexes are Linux-only: on macOS Memfd returns
//     ErrUnsupported, Populate and Reserve only size the file (macOS
//     backs shared memory with the VM system and allocates on touch),
//     MemoryShort never refuses, FlockHolders knows none, and a process's
//     start time comes from sysctl kern.proc.pid.
package osshm
