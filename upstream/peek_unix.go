//go:build linux || darwin || freebsd || netbsd || openbsd

package upstream

import "syscall"

// peekOpen reports whether the socket has nothing to read and no close
// pending, without blocking and without consuming what is there.
func peekOpen(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			return true // open, nothing sent
		case err != nil:
			return false // reset
		default:
			// 0 is the server's FIN; bytes nobody asked for on an idle
			// connection are a TLS close_notify or a broken server.
			return false
		}
	}
}
