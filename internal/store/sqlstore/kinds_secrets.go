package sqlstore

import (
	"time"

	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// secretKinds describe the Barbican subset's tables.
type secretKinds struct {
	secrets          *kind[barbican.Secret]
	containers       *kind[barbican.Container]
	containerSecrets *kind[barbican.ContainerSecret]
}

func newSecretKinds() secretKinds {
	type S = barbican.Secret
	type C = barbican.Container
	type CS = barbican.ContainerSecret
	return secretKinds{
		secrets: newKind("secrets",
			text("id", func(v *S) *string { return &v.ID }),
			text("project_id", func(v *S) *string { return &v.ProjectID }),
			text("creator_id", func(v *S) *string { return &v.CreatorID }),
			text("name", func(v *S) *string { return &v.Name }),
			text("secret_type", func(v *S) *string { return &v.Type }),
			text("algorithm", func(v *S) *string { return &v.Algorithm }),
			text("mode", func(v *S) *string { return &v.Mode }),
			pint("bit_length", func(v *S) **int { return &v.BitLength }),
			ptimestamp("expiration", func(v *S) **time.Time { return &v.Expiration }),
			text("content_type", func(v *S) *string { return &v.ContentType }),
			jsonb("payload", func(v *S) **barbican.Sealed { return &v.Payload }),
			jsonb("acl", func(v *S) *barbican.ACL { return &v.ACL }),
			timestamp("created_at", func(v *S) *time.Time { return &v.CreatedAt }),
			timestamp("updated_at", func(v *S) *time.Time { return &v.UpdatedAt }),
		),
		containers: newKind("secret_containers",
			text("id", func(v *C) *string { return &v.ID }),
			text("project_id", func(v *C) *string { return &v.ProjectID }),
			text("creator_id", func(v *C) *string { return &v.CreatorID }),
			text("name", func(v *C) *string { return &v.Name }),
			text("type", func(v *C) *string { return &v.Type }),
			jsonb("acl", func(v *C) *barbican.ACL { return &v.ACL }),
			timestamp("created_at", func(v *C) *time.Time { return &v.CreatedAt }),
			timestamp("updated_at", func(v *C) *time.Time { return &v.UpdatedAt }),
		),
		containerSecrets: newKind("container_secrets",
			text("id", func(v *CS) *string { return &v.ID }),
			text("container_id", func(v *CS) *string { return &v.ContainerID }),
			text("name", func(v *CS) *string { return &v.Name }),
			text("secret_id", func(v *CS) *string { return &v.SecretID }),
			timestamp("created_at", func(v *CS) *time.Time { return &v.CreatedAt }),
		),
	}
}

func (t *txn) Secrets() store.Table[barbican.Secret] {
	return &table[barbican.Secret]{tx: t, k: t.s.kinds.secrets.secrets}
}
func (t *txn) Containers() store.Table[barbican.Container] {
	return &table[barbican.Container]{tx: t, k: t.s.kinds.secrets.containers}
}
func (t *txn) ContainerSecrets() store.Table[barbican.ContainerSecret] {
	return &table[barbican.ContainerSecret]{tx: t, k: t.s.kinds.secrets.containerSecrets}
}
