package engine

import (
	"fmt"
	"os"
	"time"

	"github.com/gtm-project/gtm/geoip"
)

// geoCheckEvery is how often the database file is checked for replacement.
const geoCheckEvery = 5 * time.Second

// LoadGeo opens the configured databases, GeoIP and ASN (at setup, so a
// missing or bad file stops CoreDNS from starting).
func (e *Engine) LoadGeo() error {
	if e.cfg.ASN != "" {
		db, err := geoip.OpenASN(e.cfg.ASN)
		if err != nil {
			return e.cfg.ASNPos.Errorf("asn: %v", err)
		}
		e.asn.Store(db)
	}
	if e.cfg.GeoIP == "" {
		return nil
	}
	db, err := geoip.Open(e.cfg.GeoIP)
	if err != nil {
		return e.cfg.GeoIPPos.Errorf("geoip: %v", err)
	}
	if err := e.cfg.NeedsCity(e.cfg.GeoIP, db.Kind(), db.City()); err != nil {
		return err
	}
	e.geo.Store(db)
	// A large file is verified whole in the background (geoip.Open). If
	// that fails, the damage is where no sampled lookup went: lookups
	// there fail and take the default rule. Say so loudly; a replaced
	// file is verified whole before it is used.
	go func() {
		if err := db.Verified(); err != nil {
			log.Errorf("geoip: %s failed verification: addresses in its damaged part get the default rule until the file is replaced: %v", db.Path(), err)
		}
	}()
	return nil
}

// watchGeo reloads the database when its file changes, until stop closes. A
// file that does not load keeps the old database in use, and says why.
func (e *Engine) watchGeo(every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		e.reloadASN()
		old := e.geo.Load()
		if old == nil || !old.Changed() {
			continue
		}
		// The file as it was before reading: if a writer finishes after
		// this, the next check sees another change and tries again.
		before, serr := os.Stat(old.Path())
		if serr != nil {
			continue
		}
		db, err := geoip.OpenVerified(old.Path())
		if err == nil && e.snap.Load().cfg.NeedsCity(old.Path(), db.Kind(), db.City()) != nil {
			err = fmt.Errorf("%s is now %s, but subdivision rules or the nearest policy need a City database", old.Path(), db.Kind())
		}
		if err != nil {
			geoReloads.WithLabelValues("failure").Inc()
			log.Errorf("geoip: keeping the database loaded at %s: %v", old.Loaded().Format(time.RFC3339), err)
			// Remember the bad file so it is not retried every tick.
			e.geo.Store(old.Refused(before))
			continue
		}
		e.geo.Store(db)
		geoReloads.WithLabelValues("success").Inc()
		log.Infof("geoip: reloaded %s (%s, built %s)", db.Path(), db.Kind(), db.Built().Format(time.RFC3339))
	}
}

// reloadASN loads the ASN database again when its file changed; a file
// that does not load keeps the old one in use, and says why.
func (e *Engine) reloadASN() {
	old := e.asn.Load()
	if old == nil || !old.Changed() {
		return
	}
	before, err := os.Stat(old.Path())
	if err != nil {
		return
	}
	db, err := geoip.OpenASN(old.Path())
	if err != nil {
		geoReloads.WithLabelValues("failure").Inc()
		log.Errorf("asn: keeping the database loaded at %s: %v", old.Loaded().Format(time.RFC3339), err)
		e.asn.Store(old.Refused(before))
		return
	}
	e.asn.Store(db)
	geoReloads.WithLabelValues("success").Inc()
	log.Infof("asn: reloaded %s (%s, built %s)", db.Path(), db.Kind(), db.Built().Format(time.RFC3339))
}

// ASN is the ASN database in use, or nil.
func (e *Engine) ASN() *geoip.ASN { return e.asn.Load() }
