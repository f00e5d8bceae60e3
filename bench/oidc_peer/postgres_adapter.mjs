// oidc-provider's storage on PostgreSQL for the models Servicekonto keeps in PostgreSQL: grants and refresh
// tokens (its system of record), so that the benchmark compares the same kind of store row by row. Everything
// short-lived (access tokens, codes, sessions, interactions) stays in Redis (./redis_adapter.mjs), as ours does.
//
// One table, created by the peer at start in the benchmark's own fresh database:
//   model, id        the model's name and id (the primary key)
//   payload          the model's JSON
//   grant_id         to revoke a grant's tokens together
//   expires_at       a row past it is not found
//   consumed_at      set once the model is consumed (a used refresh token)
// Named statements: node-postgres prepares each once per connection, as psycopg does for ours.

export const TABLE = 'peer_oidc_models';

export async function createTable(pool) {
  await pool.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (
    model text NOT NULL, id text NOT NULL, payload jsonb NOT NULL, grant_id text,
    expires_at timestamptz, consumed_at timestamptz, PRIMARY KEY (model, id))`);
  await pool.query(`CREATE INDEX IF NOT EXISTS ${TABLE}_grant_id ON ${TABLE} (grant_id)`);
}

export function postgresAdapter(pool) {
  return class PostgresAdapter {
    constructor(name) {
      this.name = name;
    }

    async upsert(id, payload, expiresIn) {
      await pool.query({
        name: 'peer-upsert',
        text: `INSERT INTO ${TABLE} (model, id, payload, grant_id, expires_at, consumed_at)
               VALUES ($1, $2, $3, $4, CASE WHEN $5::int IS NULL THEN NULL
                                            ELSE now() + make_interval(secs => $5::int) END, NULL)
               ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
                 expires_at = EXCLUDED.expires_at, consumed_at = NULL`,
        values: [this.name, id, payload, payload.grantId ?? null, expiresIn ?? null],
      });
    }

    async find(id) {
      const { rows } = await pool.query({
        name: 'peer-find',
        text: `SELECT payload, extract(epoch FROM consumed_at)::bigint AS consumed FROM ${TABLE}
               WHERE model = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > now())`,
        values: [this.name, id],
      });
      if (rows.length === 0) {
        return undefined;
      }
      const payload = rows[0].payload;
      if (rows[0].consumed !== null) {
        payload.consumed = Number(rows[0].consumed);
      }
      return payload;
    }

    async findByUid() {
      return undefined; // sessions live in Redis
    }

    async findByUserCode() {
      return undefined; // no device flow
    }

    async consume(id) {
      await pool.query({
        name: 'peer-consume',
        text: `UPDATE ${TABLE} SET consumed_at = now() WHERE model = $1 AND id = $2`,
        values: [this.name, id],
      });
    }

    async destroy(id) {
      await pool.query({
        name: 'peer-destroy',
        text: `DELETE FROM ${TABLE} WHERE model = $1 AND id = $2`,
        values: [this.name, id],
      });
    }

    async revokeByGrantId(grantId) {
      await pool.query({
        name: 'peer-revoke',
        text: `DELETE FROM ${TABLE} WHERE model = $1 AND grant_id = $2`,
        values: [this.name, grantId],
      });
    }
  };
}
