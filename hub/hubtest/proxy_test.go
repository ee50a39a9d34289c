package hubtest

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func TestProxyCutAndRestore(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); b := make([]byte, 64); n, _ := c.Read(b); c.Write(b[:n]) }()
		}
	}()
	roundTrip := func(addr string) error {
		c, err := net.DialTimeout("tcp", addr, Timeout(time.Second))
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(Timeout(5 * time.Second)))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return err
		}
		_, err = bufio.NewReader(c).ReadString('\n')
		return err
	}
	p := NewProxy(t, echo.Addr().String(), true)
	if err := roundTrip(p.Addr); err == nil {
		t.Fatal("a proxy made cut answered")
	}
	p.Restore(t)
	if err := roundTrip(p.Addr); err != nil {
		t.Fatalf("restored proxy: %v", err)
	}
	held, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	p.Cut()
	if err := roundTrip(p.Addr); err == nil {
		t.Fatal("a cut proxy answered")
	}
	held.SetReadDeadline(time.Now().Add(Timeout(5 * time.Second)))
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection open through the proxy survived the cut")
	}
}
