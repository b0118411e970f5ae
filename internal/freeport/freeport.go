// Package freeport finds a port on 127.0.0.1 that is free for both UDP and
// TCP, for the test harnesses that start a peer server listening on both
// (named in bindtest, the MIT KDC in kdctest).
package freeport

import (
	"fmt"
	"net"
	"strconv"
)

// UDPAndTCP returns a port on 127.0.0.1 free for both UDP and TCP when
// probed; another process may still take it before the caller binds it.
func UDPAndTCP() (int, error) {
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for both UDP and TCP on 127.0.0.1")
}
