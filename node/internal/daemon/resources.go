package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/resources"
	"github.com/edgeless-go/edgeless/node/internal/resources/filelog"
	"github.com/edgeless-go/edgeless/node/internal/resources/httpegress"
	"github.com/edgeless-go/edgeless/node/internal/resources/httpingress"

	"github.com/edgeless-go/edgeless/runtime/container"
)

// nodeResources are the providers the [resources] section asks for.
type nodeResources struct {
	m       *resources.Manager
	ingress *httpingress.Provider
	filelog *filelog.Provider
}

// ProviderID returns the provider id upstream's node announces for name:
// "<hostname>-<name>" when prepend_hostname is set.
func ProviderID(r config.Resources, hostname, name string) string {
	if r.PrependHostname {
		return hostname + "-" + name
	}
	return name
}

// newResources builds the providers of cfg in upstream's order
// (http-ingress, http-egress, file-log); the ingress listens on ln.
func newResources(cfg config.Resources, ln net.Listener, dp *dataplane.Dataplane, log *slog.Logger) (*nodeResources, error) {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	size := func(key, v string) (int64, error) {
		if v == "" {
			return 0, nil
		}
		n, err := container.ParseSize(v)
		if err != nil {
			return 0, fmt.Errorf("resources.%s: %w", key, err)
		}
		return n, nil
	}
	sec := func(v uint64) time.Duration { return time.Duration(v) * time.Second }
	nr := &nodeResources{}
	var named []resources.Named
	if cfg.HTTPIngressProvider != "" && ln != nil {
		maxBody, err := size("http_ingress_max_body", cfg.HTTPIngressMaxBody)
		if err != nil {
			return nil, err
		}
		nr.ingress, err = httpingress.New(httpingress.Config{
			Listener:       ln,
			MaxBodyBytes:   maxBody,
			RequestTimeout: sec(cfg.HTTPIngressTimeoutSec),
			Logger:         log,
		})
		if err != nil {
			return nil, err
		}
		named = append(named, resources.Named{ID: ProviderID(cfg, hostname, cfg.HTTPIngressProvider), Provider: nr.ingress})
	}
	if cfg.HTTPEgressProvider != "" {
		maxResp, err := size("http_egress_max_response", cfg.HTTPEgressMaxResponse)
		if err != nil {
			nr.close(context.Background())
			return nil, err
		}
		p, err := httpegress.New(httpegress.Config{
			Timeout:          sec(cfg.HTTPEgressTimeoutSec),
			MaxResponseBytes: maxResp,
			AllowedHosts:     cfg.HTTPEgressAllowedHosts,
			Logger:           log,
		})
		if err != nil {
			nr.close(context.Background())
			return nil, fmt.Errorf("resources.http_egress_allowed_hosts: %w", err)
		}
		named = append(named, resources.Named{ID: ProviderID(cfg, hostname, cfg.HTTPEgressProvider), Provider: p})
	}
	if cfg.FileLogProvider != "" {
		nr.filelog, err = filelog.New(cfg.FileLogDir)
		if err != nil {
			nr.close(context.Background())
			return nil, fmt.Errorf("resources.file_log_dir: %w", err)
		}
		named = append(named, resources.Named{ID: ProviderID(cfg, hostname, cfg.FileLogProvider), Provider: nr.filelog})
	}
	nr.m, err = resources.NewManager(dp, log, named...)
	if err != nil {
		nr.close(context.Background())
		return nil, fmt.Errorf("resources: %w", err)
	}
	for _, s := range nr.m.Specs() {
		log.Info("resource provider", "provider_id", s.GetProviderId(), "class_type", s.GetClassType(), "outputs", s.GetOutputs())
	}
	return nr, nil
}

// close stops the ingress listener and closes the file-log directory; the
// instances are stopped by the agent before.
func (nr *nodeResources) close(ctx context.Context) error {
	var errs []error
	if nr.ingress != nil {
		errs = append(errs, nr.ingress.Close(ctx))
	}
	if nr.filelog != nil {
		errs = append(errs, nr.filelog.Close())
	}
	return errors.Join(errs...)
}

// AvailableResources describes the resource classes this node can offer,
// in upstream's order, for --available-resources.
func AvailableResources() []resources.ClassSpec {
	return []resources.ClassSpec{filelog.Spec, httpegress.Spec, httpingress.Spec}
}
