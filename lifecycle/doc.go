// Package lifecycle is npshm's admin side: it lists the segments in the
// segment directory with their lifecycle records (List, Entry, Creator) and
// removes the ones nothing uses (GC, Removed). cmd/npshm's ls and gc, and
// the test harness, use it; package bridge, which makes and maps segments,
// writes the records it reads.
//
// Records are kept with each segment so they die with what they describe
// (docs/LIFECYCLE.md):
//
//   - holders: every npshm process that has a segment open holds a shared
//     flock on it, released by Close or by the process's death;
//   - creator: the xattr user.npshm.creator = "PID STARTTIME PIDNS" (the
//     start time, from /proc/PID/stat, tells a dead creator from a reused
//     PID; PIDNS, the inode of the creator's /proc/self/ns/pid, says which
//     PID namespace PID is in: containers sharing /dev/shm each have their
//     own. Records of two fields, from before, are read as this process's
//     namespace);
//   - published: the xattr user.npshm.persistent = "1", set on arrays
//     published under a name, which only an explicit rm/Unlink removes;
//   - temporaries: ".npshm-tmp-PID-XXXXXXXX", where publishing fills an
//     array before renaming it to its name.
//
// GC removes an npshm segment only when it is a temporary or unpublished,
// its creator is dead, and no process holds it.
//
// All of this needs the dir backend (NPSHM_BACKEND=dir, the default on
// Linux): POSIX shm_open objects, macOS's shared memory, can be neither
// listed nor given xattrs or flocks, so with the shm_open backend List and
// GC fail with an error wrapping errors.ErrUnsupported
// (namespace.ErrNoListing) that says so.
package lifecycle
