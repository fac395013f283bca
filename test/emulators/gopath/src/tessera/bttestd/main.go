// bttestd serves Debian's bttest Bigtable fake (golang-google-cloud-dev 0.56) on a chosen loopback address.
// bttest keeps everything in memory; restart it per test run.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/bigtable/bttest"
	"google.golang.org/grpc"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8086", "host:port to listen on")
	flag.Parse()

	// Bulk inserts of 1000 rows x several cells exceed gRPC's default 4 MB receive limit.
	srv, err := bttest.NewServer(*addr, grpc.MaxRecvMsgSize(256<<20))
	if err != nil {
		log.Fatalf("bttestd: listen %s: %v", *addr, err)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("bttestd listening on %s\n", srv.Addr)
	<-sig
	srv.Close()
}
