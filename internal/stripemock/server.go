package stripemock

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options shape a server.
type Options struct {
	// Log receives progress messages (the first build); nil discards them.
	Log io.Writer
	// Output receives stripe-mock's own output, a few lines per request; nil discards it.
	// The last lines are kept anyway for the error of a server that fails to start.
	Output io.Writer
}

// Server is a running stripe-mock.
type Server struct {
	// URL is the base URL of its plain-HTTP listener, http://127.0.0.1:<port>, to be given to
	// stripe-go as the API backend's URL.
	URL string

	cmd       *exec.Cmd
	done      chan struct{} // closed when the process has exited
	tail      *tail
	closeOnce sync.Once
}

// APIKey is a key that stripe-mock accepts: any key that looks like a test-mode secret key.
const APIKey = "sk_test_123"

const listenPrefix = "Listening for HTTP at address: "

// Start builds stripe-mock if need be and starts it on 127.0.0.1, on ports the system
// chooses, and waits until it answers. Both the HTTP and the HTTPS listeners are given an
// address on 127.0.0.1: without one, stripe-mock also listens on :12112 on every interface.
// The process dies with the process that started it. Call Close to stop it.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	bin, err := Build(ctx, opts.Log)
	if err != nil {
		return nil, err
	}
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// Port 0: stripe-mock binds a port the system chooses and prints it, so that no other
	// process can take the port between choosing and binding.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("starting stripe-mock: %w", err)
	}
	w.Close()
	s := &Server{cmd: cmd, done: make(chan struct{}), tail: &tail{max: 30}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	addrs := make(chan string, 1)
	go s.read(r, out, addrs)
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(s.done)
	}()

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	select {
	case addr := <-addrs:
		s.URL = "http://" + addr
	case <-s.done:
		return nil, fmt.Errorf("stripe-mock exited before listening (%v):\n%s", waitErr, s.tail.String())
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for stripe-mock to listen: %w\n%s", ctx.Err(), s.tail.String())
	}
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// read copies the process's output until it ends, and sends the HTTP listener's address
// when stripe-mock prints it. It keeps reading whatever happens, so that stripe-mock never
// blocks on a full pipe.
func (s *Server) read(r *os.File, out io.Writer, addrs chan<- string) {
	defer r.Close()
	br := bufio.NewReader(r)
	sent := false
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			io.WriteString(out, line)
			s.tail.add(strings.TrimRight(line, "\n"))
			if !sent {
				if i := strings.Index(line, listenPrefix); i >= 0 {
					addrs <- strings.TrimSpace(line[i+len(listenPrefix):])
					sent = true
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// waitReady polls the server until it answers an authenticated request.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/balance", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+APIKey)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-s.done:
			return fmt.Errorf("stripe-mock exited while starting:\n%s", s.tail.String())
		case <-ctx.Done():
			return fmt.Errorf("waiting for stripe-mock at %s: %w (last: %v)\n%s", s.URL, ctx.Err(), last, s.tail.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops the server: it asks stripe-mock to end and kills it if it does not within a few
// seconds. Close may be called more than once.
func (s *Server) Close() {
	if s == nil {
		return
	}
	s.closeOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// tail keeps the last lines of the process's output for error messages.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-t.max:]...)
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return "(no output)"
	}
	return strings.Join(t.lines, "\n")
}
