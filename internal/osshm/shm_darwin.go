//go:build darwin

package osshm

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shm_open and shm_unlink are libSystem functions with no wrapper in
// golang.org/x/sys/unix; they are called as x/sys calls libSystem, without
// cgo: a trampoline (shm_darwin_*.s) jumps to the dynamically imported
// symbol, and the runtime's syscall.syscall calls it on the system stack.
// shm_open is variadic (mode is its third argument); the runtime passes a
// three-argument call's third argument on the stack too, as arm64 macOS
// wants for variadic arguments.

//go:cgo_import_dynamic libc_shm_open shm_open "/usr/lib/libSystem.B.dylib"
//go:cgo_import_dynamic libc_shm_unlink shm_unlink "/usr/lib/libSystem.B.dylib"

var (
	libc_shm_open_trampoline_addr   uintptr
	libc_shm_unlink_trampoline_addr uintptr
)

//go:linkname syscall_syscall syscall.syscall
func syscall_syscall(fn, a1, a2, a3 uintptr) (r1, r2 uintptr, err syscall.Errno)

// ShmOpen is shm_open("/"+name, flag, perm). What is not a shm object or
// regular file is refused with NotRegular. name is a valid segment name
// without its slash, at most 30 bytes (PSHMNAMLEN, 31, counts the slash).
func ShmOpen(name string, flag int, perm uint32) (*os.File, error) {
	p, err := unix.BytePtrFromString("/" + name)
	if err != nil {
		return nil, &os.PathError{Op: "shm_open", Path: "/" + name, Err: err}
	}
	// only the flags macOS's shm_open documents (an shm object is no FIFO,
	// so O_NONBLOCK has nothing to guard); close-on-exec is set after
	flag &= unix.O_RDONLY | unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_EXCL
	for {
		r, _, errno := syscall_syscall(libc_shm_open_trampoline_addr, uintptr(unsafe.Pointer(p)), uintptr(flag), uintptr(perm))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return nil, &os.PathError{Op: "shm_open", Path: "/" + name, Err: errno}
		}
		unix.CloseOnExec(int(r))
		return checkRegular(int(r), "/"+name)
	}
}

// ShmUnlink is shm_unlink("/"+name).
func ShmUnlink(name string) error {
	p, err := unix.BytePtrFromString("/" + name)
	if err == nil {
		if _, _, errno := syscall_syscall(libc_shm_unlink_trampoline_addr, uintptr(unsafe.Pointer(p)), 0, 0); errno != 0 {
			err = errno
		}
	}
	if err != nil {
		return &os.PathError{Op: "shm_unlink", Path: "/" + name, Err: err}
	}
	return nil
}
