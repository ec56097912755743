// Command stipendd is the Stipend server.
//
//	stipendd serve       run the HTTP API (migrating the database first, unless --migrate=false)
//	stipendd migrate     apply pending database migrations and exit
//	stipendd admin-key   create a new admin API key and print it once
//	stipendd reconcile   compare the ledger with lnd's payments and invoices; exit 1 on a difference
//	stipendd healthcheck exit 0 if the server at --listen answers /healthz
//	stipendd version     print the version
//
// Every setting is a flag and an environment variable: --listen and STIPEND_LISTEN, and so on;
// run "stipendd serve -h" for the list.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const usage = `usage: stipendd <command> [flags]

commands:
  serve        run the HTTP API
  migrate      apply pending database migrations
  admin-key    create a new admin API key (printed once)
  reconcile    compare the ledger with lnd and print every difference
  healthcheck  check that the server answers /healthz
  version      print the version

Run "stipendd <command> -h" for the flags of a command.
`

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer, func(string) string) error{
		"serve":       serve,
		"migrate":     migrate,
		"admin-key":   adminKey,
		"reconcile":   reconcileCmd,
		"healthcheck": healthcheck,
		"version":     printVersion,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "stipendd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err := cmd(ctx, args[1:], stdout, stderr, getenv); err != nil {
		if isHelp(err) {
			return 0
		}
		fmt.Fprintf(stderr, "stipendd %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
