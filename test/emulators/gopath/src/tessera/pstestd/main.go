// pstestd serves Debian's pstest Pub/Sub fake (golang-google-cloud-dev 0.56) on a chosen loopback address.
//
// Two quirks of that version are handled here:
//   - pstest.NewServer has no address option: it listens on its own random port. Its exported GServer is
//     registered again on our own gRPC server listening on -addr (pstest's own port stays open, on loopback).
//   - CreateSubscription rejects ackDeadlineSeconds=0 with UNKNOWN, which the Node client retries for 60 s.
//     subShim defaults it to 10 s, the real service's default.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/pubsub/pstest"
	pb "google.golang.org/genproto/googleapis/pubsub/v1"
	"google.golang.org/grpc"
)

type subShim struct {
	*pstest.GServer
}

func (s subShim) CreateSubscription(ctx context.Context, sub *pb.Subscription) (*pb.Subscription, error) {
	if sub.AckDeadlineSeconds == 0 {
		sub.AckDeadlineSeconds = 10
	}
	return s.GServer.CreateSubscription(ctx, sub)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8085", "host:port to listen on")
	flag.Parse()

	fake := pstest.NewServer()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("pstestd: listen %s: %v", *addr, err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	pb.RegisterPublisherServer(srv, &fake.GServer)
	pb.RegisterSubscriberServer(srv, subShim{&fake.GServer})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		srv.Stop()
		fake.Close()
		os.Exit(0)
	}()

	fmt.Printf("pstestd listening on %s\n", lis.Addr())
	if err := srv.Serve(lis); err != nil {
		log.Fatalf("pstestd: %v", err)
	}
}
