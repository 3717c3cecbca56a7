package director

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
)

// etcdWithAuth enables auth on srv: user "u" (password "secret") may
// read and write /t/, user "nop" (password "secret") nothing.
func etcdWithAuth(t *testing.T, srv *etcdtest.Server) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { _, err := cli.RoleAdd(ctx, "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "lvs"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "lvs", "/t/", clientv3.GetPrefixRangeEnd("/t/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "u", "secret"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "u", "lvs"); return err },
		func() error { _, err := cli.UserAdd(ctx, "nop", "secret"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
}

// F3: a wrong password and a user without permission on the prefix are
// reported as what they are (status store.error, the log), not as etcd
// unreachable with "user name is empty".
func TestEtcdAuthErrorsNamed(t *testing.T) {
	srv := etcdtest.Start(t)
	etcdWithAuth(t, srv)
	for _, c := range []struct{ user, password, want string }{
		{"u", "wrong", `authentication failed for user "u"`},
		{"nop", "secret", `permission denied on prefix "/t/" for user "nop"`},
	} {
		t.Run(c.user+"/"+c.password, func(t *testing.T) {
			pw := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(pw, []byte(c.password+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := ParseConfig("test.yaml", []byte(fmt.Sprintf("state_file: %s\nstore:\n  type: etcd\n  endpoints: [%s]\n  prefix: /t/\n  timeout: 1s\n  user: %s\n  password_file: %s\n",
				filepath.Join(t.TempDir(), "s.json"), srv.Endpoint, c.user, pw)))
			if err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			st, err := OpenStore(cfg, slog.New(slog.NewTextHandler(&log, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer CloseStore(st)
			_, _ = st.Load(context.Background())
			got := st.(*EtcdStore).StoreStatus().Error
			t.Logf("status error: %s", got)
			if !strings.Contains(got, c.want) {
				t.Errorf("store.error = %q, want it to say %q", got, c.want)
			}
			logged := strings.ReplaceAll(log.String(), `\"`, `"`) // the text handler quotes err
			if !strings.Contains(logged, c.want) || strings.Contains(logged, "etcd unreachable") {
				t.Errorf("log says:\n%s\nwant %q, not \"etcd unreachable\"", log.String(), c.want)
			}
		})
	}
}
