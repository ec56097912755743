package main

import (
	"context"
	"strings"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
)

func cmdGitHubLink(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "github link\n\n" +
		"Prints the GitHub page where you sign in to prove which login is yours. GitHub then sends you\n" +
		"to Stipend's page with a code; run \"stipend github confirm CODE\" with the same API key."
	fs := e.flagSet(name)
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.GitHubLinkStart, error) {
		return c.StartGitHubLink(ctx)
	}, func(s *wire.GitHubLinkStart) error {
		if err := e.printPairs("open", s.AuthorizeURL, "expires", when(&s.ExpiresAt)); err != nil {
			return err
		}
		_, err := e.stderr.Write([]byte("\nOpen the page in a browser and sign in to GitHub; the page GitHub sends you back to\n" +
			"shows the command that finishes the link: stipend github confirm CODE\n"))
		return err
	})
}

func cmdGitHubConfirm(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "github confirm CODE [--idempotency-key K]\n\n" +
		"Links the GitHub login that the code stands for to your account, and moves in the rewards waiting for it."
	fs := e.flagSet(name)
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key links once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 1)
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.GitHubLink, error) {
		return c.ConfirmGitHubLink(ctx, pos[0], *idem)
	}, e.printGitHubLink)
}

func cmdAdminGitHubLink(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "admin github link ACCOUNT LOGIN [--idempotency-key K]"
	fs := e.flagSet(name)
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key links once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 2)
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.GitHubLink, error) {
		return c.LinkGitHub(ctx, wire.GitHubLinkRequest{AccountID: pos[0], Login: pos[1]}, *idem)
	}, e.printGitHubLink)
}

// printGitHubLink shows a linked login and what the link moved into the account.
func (e *env) printGitHubLink(l *wire.GitHubLink, resp *client.Response) error {
	moved := "nothing was pending for this login"
	if len(l.Moved) > 0 {
		var parts []string
		for _, m := range l.Moved {
			parts = append(parts, amount(m.Amount, m.Asset))
		}
		moved = strings.Join(parts, ", ")
	}
	pairs := []string{"account", l.AccountID, "github login", l.Login, "moved in", moved, "idempotency key", resp.IdempotencyKey}
	if resp.Replayed {
		pairs = append(pairs, "replayed", "yes: this key was used before, so nothing moved again")
	}
	return e.printPairs(pairs...)
}
