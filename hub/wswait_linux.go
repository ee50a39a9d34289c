package hub

import "syscall"

const canPeek = true

// peekReadable reports whether the socket fd has something for a read: a
// byte, the end of the stream or an error (the read that follows returns
// it). It consumes nothing.
func peekReadable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true
	}
}
