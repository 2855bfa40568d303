package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func secretFixture() (*barbican.Secret, *barbican.Secret, *barbican.Container, *barbican.ContainerSecret, *barbican.ContainerSecret) {
	bits := 2048
	exp := base.Add(365 * 24 * time.Hour)
	cert := &barbican.Secret{ID: id("5ec1e700", 1), ProjectID: "p1", CreatorID: "u1", Name: "web-cert", Type: barbican.TypeCertificate,
		Algorithm: "RSA", Mode: "", BitLength: &bits, Expiration: &exp, ContentType: "text/plain",
		Payload:   &barbican.Sealed{KeyID: 1, Data: []byte{0, 1, 2, 250, 251}},
		ACL:       barbican.ACL{Set: true, ProjectAccess: false, Users: []string{"u2", "u3"}, CreatedAt: base, UpdatedAt: base},
		CreatedAt: base, UpdatedAt: base.Add(time.Second)}
	key := &barbican.Secret{ID: id("5ec1e700", 2), ProjectID: "p1", CreatorID: "u1", Type: barbican.TypePrivate,
		CreatedAt: base.Add(time.Second), UpdatedAt: base.Add(time.Second)}
	c := &barbican.Container{ID: id("c0a7a1e0", 1), ProjectID: "p1", CreatorID: "u1", Name: "tls", Type: barbican.ContainerCertificate,
		ACL: barbican.ACL{Set: true, ProjectAccess: true, Users: []string{}, CreatedAt: base, UpdatedAt: base}, CreatedAt: base, UpdatedAt: base}
	cs1 := &barbican.ContainerSecret{ID: id("c5000000", 1), ContainerID: c.ID, Name: "certificate", SecretID: cert.ID, CreatedAt: base}
	cs2 := &barbican.ContainerSecret{ID: id("c5000000", 2), ContainerID: c.ID, Name: "private_key", SecretID: key.ID, CreatedAt: base}
	return cert, key, c, cs1, cs2
}

func testSecretsRoundTripAndConstraints(t *testing.T, s store.Store) {
	ctx := context.Background()
	cert, key, c, cs1, cs2 := secretFixture()
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(
			tx.Secrets().Create(ctx, cert),
			tx.Secrets().Create(ctx, key),
			tx.Containers().Create(ctx, c),
			tx.ContainerSecrets().Create(ctx, cs1),
			tx.ContainerSecrets().Create(ctx, cs2),
		)
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		g1, err1 := tx.Secrets().Get(ctx, cert.ID)
		g2, err2 := tx.Secrets().Get(ctx, key.ID)
		gc, err3 := tx.Containers().Get(ctx, c.ID)
		gcs, err4 := tx.ContainerSecrets().Get(ctx, cs1.ID)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatal(err)
		}
		check(t, "secret with payload and ACL", g1, cert)
		check(t, "secret without payload", g2, key)
		check(t, "container", gc, c)
		check(t, "container secret", gcs, cs1)
		refs, err := tx.ContainerSecrets().Refs(ctx, "container_id", []string{c.ID})
		if err != nil || fmt.Sprint(refs[c.ID]) != fmt.Sprint([]string{cs1.ID, cs2.ID}) {
			t.Errorf("container secret refs = %v, %v", refs, err)
		}
		byProject, err := tx.Secrets().List(ctx, store.Query{Filters: []store.Filter{store.F("project_id", "p1"), store.F("name", "web-cert")}})
		if err != nil || len(byProject) != 1 || byProject[0].ID != cert.ID {
			t.Errorf("list by project and name = %v, %v", byProject, err)
		}
		n, err := tx.Secrets().Count(ctx, store.F("project_id", "p1"))
		if err != nil || n != 2 {
			t.Errorf("count = %d, %v", n, err)
		}
		return nil
	})
	tests := []struct {
		name string
		fn   func(tx store.Tx) error
		want error
	}{
		{"duplicate secret id", func(tx store.Tx) error { return tx.Secrets().Create(ctx, cert) }, store.ErrConflict},
		{"same secret twice under one name", func(tx store.Tx) error {
			dup := *cs1
			dup.ID = id("c5000000", 9)
			return tx.ContainerSecrets().Create(ctx, &dup)
		}, store.ErrConflict},
		{"container secret of a missing secret", func(tx store.Tx) error {
			return tx.ContainerSecrets().Create(ctx, &barbican.ContainerSecret{ID: id("c5000000", 8), ContainerID: c.ID, Name: "intermediates", SecretID: "nope", CreatedAt: base})
		}, store.ErrConflict},
		{"container secret of a missing container", func(tx store.Tx) error {
			return tx.ContainerSecrets().Create(ctx, &barbican.ContainerSecret{ID: id("c5000000", 7), ContainerID: "nope", Name: "x", SecretID: key.ID, CreatedAt: base})
		}, store.ErrConflict},
		{"missing secret", func(tx store.Tx) error { _, err := tx.Secrets().Get(ctx, "nope"); return err }, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Update(ctx, tc.fn); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Adding the payload later and changing the ACL round-trip.
	mustUpdate(t, s, func(tx store.Tx) error {
		k, err := tx.Secrets().Lock(ctx, key.ID)
		if err != nil {
			return err
		}
		k.ContentType, k.Payload = "application/octet-stream", &barbican.Sealed{KeyID: 2, Data: []byte("sealed")}
		k.ACL = barbican.ACL{Set: true, ProjectAccess: true, Users: []string{"u9"}, CreatedAt: base, UpdatedAt: base}
		k.UpdatedAt = base.Add(time.Minute)
		return tx.Secrets().Update(ctx, k)
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		k, err := tx.Secrets().Get(ctx, key.ID)
		if err != nil || k.Payload == nil || string(k.Payload.Data) != "sealed" || k.Payload.KeyID != 2 || !k.ACL.Grants("u9") {
			t.Errorf("updated secret = %+v, %v", k, err)
		}
		return nil
	})
	// Deleting a secret removes it from its containers; deleting the
	// container removes the rest.
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Secrets().Delete(ctx, cert.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		n, err := tx.ContainerSecrets().Count(ctx, store.F("container_id", c.ID))
		if err != nil || n != 1 {
			t.Errorf("container secrets after the secret went: %d, %v", n, err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Containers().Delete(ctx, c.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		n, err := tx.ContainerSecrets().Count(ctx, store.F("secret_id", key.ID))
		if err != nil || n != 0 {
			t.Errorf("container secrets after the container went: %d, %v", n, err)
		}
		if _, err := tx.Secrets().Get(ctx, key.ID); err != nil {
			t.Errorf("the secret must survive its container: %v", err)
		}
		return nil
	})
}
