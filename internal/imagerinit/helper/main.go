// Command imager-init runs a profile's imager with the host's devices. sovos mounts it
// into the imager step (run with BuildKit's security.insecure entitlement) as its
// command:
//
//	imager-init PROFILE COMMAND [ARG]...
//
// It mounts a devtmpfs at /dev, as `docker run --privileged -v /dev:/dev` gives the
// Talos imager: BuildKit's own /dev holds a few loop devices and never the partition
// nodes (/dev/loop0p1) the kernel creates when the imager partitions a disk image. It
// then runs COMMAND (looked up in PATH) with PROFILE on its standard input, as
// `imager -` reads it. It is static and uses package syscall only, so it runs in any
// image, one without a shell included, and stays small enough to embed in sovos.
package main

import "syscall"

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func main() {
	args := argv()
	if len(args) < 3 {
		fail("usage: imager-init PROFILE COMMAND [ARG]...", nil)
	}
	if err := syscall.Mount("devtmpfs", "/dev", "devtmpfs", syscall.MS_NOSUID, "mode=0755"); err != nil {
		fail("mounting the host's devices (devtmpfs) at /dev: ", err, "; the imager step needs BuildKit's security.insecure entitlement")
	}
	fd, err := syscall.Open(args[1], syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fail("opening the profile "+args[1]+": ", err)
	}
	if err := syscall.Dup3(fd, 0, 0); err != nil {
		fail("reading the profile on standard input: ", err)
	}
	env := syscall.Environ()
	path := lookPath(args[2], env)
	err = syscall.Exec(path, args[2:], env)
	fail("running "+args[2]+": ", err)
}

// lookPath finds a command in $PATH as a shell does; a name with a slash is used as is.
func lookPath(cmd string, env []string) string {
	for i := 0; i < len(cmd); i++ {
		if cmd[i] == '/' {
			return cmd
		}
	}
	path := defaultPath
	for _, kv := range env {
		if len(kv) > 5 && kv[:5] == "PATH=" {
			path = kv[5:]
		}
	}
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != ':' {
			continue
		}
		dir := path[start:i]
		start = i + 1
		if dir == "" {
			dir = "."
		}
		candidate := dir + "/" + cmd
		var st syscall.Stat_t
		if syscall.Stat(candidate, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Mode&0o111 != 0 {
			return candidate
		}
	}
	fail(cmd+": not found in PATH ("+path+")", nil)
	return ""
}

// argv reads the arguments from /proc/self/cmdline: package os would add a sixth to
// the binary's size for os.Args alone.
func argv() []string {
	fd, err := syscall.Open("/proc/self/cmdline", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fail("reading the arguments: ", err)
	}
	var data []byte
	buf := make([]byte, 4096)
	for {
		n, err := syscall.Read(fd, buf)
		if err != nil {
			fail("reading the arguments: ", err)
		}
		if n <= 0 {
			break
		}
		data = append(data, buf[:n]...)
	}
	syscall.Close(fd)
	var args []string
	start := 0
	for i, b := range data {
		if b == 0 {
			args = append(args, string(data[start:i]))
			start = i + 1
		}
	}
	return args
}

func fail(msg string, err error, more ...string) {
	s := "imager-init: " + msg
	if err != nil {
		s += err.Error()
	}
	for _, m := range more {
		s += m
	}
	syscall.Write(2, []byte(s+"\n"))
	syscall.Exit(1)
}
