package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/audit"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/secrets"
)

// The secrets commands open the data file directly, like cache, so the
// gateway must be stopped. Going through the admin API instead would buy
// nothing: the gateway reads secrets only at start, so a changed secret
// needs a restart anyway; rotate-master needs the old and the new master
// key together and a restart under the new one; and keeping secret values
// out of the admin API means no admin answer, log line of it, or admin key
// holder can ever read or plant one over the network.

// newMasterKeyEnv supplies the new master key to rotate-master.
const newMasterKeyEnv = "EDGEWAY_NEW_MASTER_KEY"

// maxSecretLen bounds a value read from stdin.
const maxSecretLen = 64 << 10

const secretsUsage = `usage: edgeway secrets <set|list|rotate-master> [--config FILE] [--data-dir DIR]

  set NAME       store the value read from stdin (never from the command line)
                 under NAME, encrypted; the config refers to it as api_key: secret:NAME
  list           names and dates of the stored secrets, never their values
  rotate-master  re-encrypt every secret under a new master key, given by
                 $EDGEWAY_NEW_MASTER_KEY, --new-key-file FILE, or --generate FILE
                 (writes a fresh key there, mode 0600); then start the gateway
                 with the new key in $EDGEWAY_MASTER_KEY or $EDGEWAY_MASTER_KEY_FILE

The master key (32 random bytes, base64 or hex: openssl rand -base64 32) comes
from $EDGEWAY_MASTER_KEY or the file named by $EDGEWAY_MASTER_KEY_FILE.
These commands open the data file: stop the gateway first.
`

// dataFileFlags find the data file: the config's data_dir, or --data-dir.
type dataFileFlags struct{ config, dataDir string }

func (f *dataFileFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", os.Getenv("EDGEWAY_CONFIG"), "config file; its data_dir is used")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (overrides the config)")
}

func (f *dataFileFlags) open() (*bbolt.DB, error) {
	dir := config.DefaultDataDir
	if f.config != "" {
		c, err := config.Load(f.config, config.Defaults{})
		if err != nil {
			return nil, err
		}
		dir = c.DataDir
	}
	if f.dataDir != "" {
		dir = f.dataDir
	}
	return openDB(dir)
}

// cliActor names the person at the CLI in the audit log.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return fmt.Sprintf("cli:uid %d", os.Getuid())
}

func secretsCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, secretsUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("edgeway secrets "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var df dataFileFlags
	df.register(fs)
	var newKeyFile, generate string
	var name string
	switch sub {
	case "set":
		// The name comes first, flags after it.
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fmt.Fprint(stderr, "usage: edgeway secrets set NAME [--config FILE] [--data-dir DIR] < value\n")
			return 2
		}
		name, args = args[0], args[1:]
	case "list":
	case "rotate-master":
		fs.StringVar(&newKeyFile, "new-key-file", "", "file holding the new master key (mode 0600)")
		fs.StringVar(&generate, "generate", "", "generate the new master key into this new file (mode 0600)")
	default:
		fmt.Fprintf(stderr, "edgeway secrets: unknown command %q\n\n%s", sub, secretsUsage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "edgeway secrets %s: %v\n", sub, err); return 1 }
	if fs.NArg() > 0 {
		if sub == "set" {
			// Not quoted: it may be the very value that must not be shown.
			return fail(errors.New("unexpected argument: the value is read from stdin, never the command line (printf %s \"$KEY\" | edgeway secrets set NAME)"))
		}
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if sub == "set" {
		if err := secrets.ValidName(name); err != nil {
			return fail(err)
		}
	}
	db, err := df.open()
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	if sub == "list" {
		infos, err := secrets.List(db)
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tUPDATED")
		for _, i := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", i.Name, i.Created.Local().Format(time.DateTime), i.Updated.Local().Format(time.DateTime))
		}
		tw.Flush()
		return 0
	}
	master, err := secrets.LoadMasterKey(os.LookupEnv)
	if err != nil {
		return fail(err)
	}
	st, err := secrets.Open(db, master)
	if err != nil {
		return fail(err)
	}
	alog, err := audit.Open(db, audit.Options{})
	if err != nil {
		return fail(err)
	}
	defer alog.Close()
	switch sub {
	case "set":
		value, err := readSecret(stdin, stderr)
		if err != nil {
			return fail(err)
		}
		if err := st.Set(name, value); err != nil {
			return fail(err)
		}
		if err := alog.Admin(cliActor(), "secret.set", name); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "stored secret %s; refer to it as api_key: secret:%s (a running gateway reads it at its next start)\n", name, name)
	case "rotate-master":
		next, err := newMasterKey(newKeyFile, generate)
		if err != nil {
			return fail(err)
		}
		n, err := st.Rotate(next)
		if err != nil {
			return fail(err)
		}
		if err := alog.Admin(cliActor(), "secret.rotate-master", fmt.Sprintf("%d secrets", n)); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "re-encrypted %d secrets under the new master key; the old one no longer opens them.\nStart the gateway with the new key in $%s or $%s.\n", n, secrets.MasterKeyEnv, secrets.MasterKeyFileEnv)
	}
	return 0
}

// readSecret reads a value from stdin, without its trailing line break.
func readSecret(stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintln(stderr, "type the value, then Enter and Ctrl-D (it is echoed: prefer a pipe)")
		}
	}
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(stdin), maxSecretLen+1))
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	if len(b) > maxSecretLen {
		return nil, fmt.Errorf("the value is longer than %d bytes", maxSecretLen)
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) == 0 {
		return nil, errors.New("no value on stdin (e.g. printf %s \"$KEY\" | edgeway secrets set NAME)")
	}
	return b, nil
}

// newMasterKey reads or makes the key rotate-master moves to: exactly one
// of --new-key-file, --generate and $EDGEWAY_NEW_MASTER_KEY.
func newMasterKey(file, generate string) (secrets.MasterKey, error) {
	env := os.Getenv(newMasterKeyEnv)
	set := 0
	for _, s := range []string{file, generate, env} {
		if s != "" {
			set++
		}
	}
	switch {
	case set == 0:
		return nil, fmt.Errorf("no new master key: set $%s, or give --new-key-file FILE or --generate FILE", newMasterKeyEnv)
	case set > 1:
		return nil, fmt.Errorf("give the new master key one way only ($%s, --new-key-file or --generate)", newMasterKeyEnv)
	case file != "":
		return secrets.ReadMasterKeyFile(file)
	case generate != "":
		return secrets.GenerateMasterKeyFile(generate)
	}
	k, err := secrets.ParseMasterKey(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", newMasterKeyEnv, err)
	}
	return k, nil
}

// secretResolver returns how build turns api_key references into keys. The
// secrets store is opened only when the config refers to a stored secret;
// without the data file (check) such a key is left empty with a note.
func secretResolver(cfg *config.Config, db *bbolt.DB) (func(config.Secret) (string, error), []string, error) {
	env := func(s config.Secret) (string, error) { return s.Resolve(os.LookupEnv) }
	var names []string
	stored := []config.Secret{cfg.Fleet.Password, cfg.Fleet.Token}
	for i := range cfg.Providers {
		stored = append(stored, cfg.Providers[i].APIKey)
	}
	for _, s := range stored {
		if n, ok := s.Stored(); ok {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return env, nil, nil
	}
	if db == nil {
		note := fmt.Sprintf("stored secrets (%s) not read: this command does not open the data file", strings.Join(names, ", "))
		return func(s config.Secret) (string, error) {
			if _, ok := s.Stored(); ok {
				return "", nil
			}
			return env(s)
		}, []string{note}, nil
	}
	master, err := secrets.LoadMasterKey(os.LookupEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("the config uses stored secrets (%s): %w", strings.Join(names, ", "), err)
	}
	st, err := secrets.Open(db, master)
	if err != nil {
		return nil, nil, err
	}
	return func(s config.Secret) (string, error) {
		if n, ok := s.Stored(); ok {
			v, err := st.Get(n)
			if errors.Is(err, secrets.ErrNotFound) {
				return "", fmt.Errorf("%w (store it with: edgeway secrets set %s)", err, n)
			}
			return v, err
		}
		return env(s)
	}, nil, nil
}
