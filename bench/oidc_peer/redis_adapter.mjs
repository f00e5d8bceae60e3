// oidc-provider's storage on Redis, for the benchmark peer (bench/oidc_provider.py).
//
// Servicekonto keeps short-lived protocol state in Redis when SERVICEKONTO_REDIS_URL is set, so the peer
// keeps all of its state (grants, tokens, sessions, interactions) in Redis too: the same kind of store,
// one network round trip per lookup, as a real deployment of either would have.
//
// Layout, all under one key prefix so the harness can delete every key afterwards:
//   PREFIX model:ID          a hash: `payload` (the model's JSON) and, once consumed, `consumed` (epoch seconds)
//   PREFIX grant:GRANT_ID    a set of the model keys issued under a grant, to revoke them together
//   PREFIX uid:UID           the Session ID that owns this uid
//   PREFIX user_code:CODE    the DeviceCode ID that owns this user code
// Every key expires with the model it belongs to; grant sets live as long as their longest member.

// Models whose instances belong to a grant and go with it when the grant is revoked.
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'ClientCredentials',
  'BackchannelAuthenticationRequest',
]);

const epochSeconds = () => Math.floor(Date.now() / 1000);

/** The adapter class oidc-provider instantiates per model, on an ioredis client and under a key prefix. */
export function redisAdapter(client, prefix) {
  // Mark a model consumed; HSET keeps the key's expiry, and a key that is gone stays gone.
  client.defineCommand('consumeModel', {
    numberOfKeys: 1,
    lua: "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'consumed', ARGV[1]) end",
  });

  return class RedisAdapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${prefix}${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      const multi = client.multi().del(key).hset(key, 'payload', JSON.stringify(payload));
      if (expiresIn) {
        multi.expire(key, expiresIn);
      }
      if (GRANTABLE.has(this.name) && payload.grantId) {
        const grantKey = `${prefix}grant:${payload.grantId}`;
        multi.sadd(grantKey, key);
        if (expiresIn) {
          multi.expire(grantKey, expiresIn, 'GT').expire(grantKey, expiresIn, 'NX');
        }
      }
      if (payload.uid) {
        multi.set(`${prefix}uid:${payload.uid}`, id, ...(expiresIn ? ['EX', expiresIn] : []));
      }
      if (payload.userCode) {
        multi.set(`${prefix}user_code:${payload.userCode}`, id, ...(expiresIn ? ['EX', expiresIn] : []));
      }
      await multi.exec();
    }

    async find(id) {
      const stored = await client.hgetall(this.key(id));
      if (!stored.payload) {
        return undefined;
      }
      const payload = JSON.parse(stored.payload);
      if (stored.consumed) {
        payload.consumed = Number(stored.consumed);
      }
      return payload;
    }

    async findByUid(uid) {
      const id = await client.get(`${prefix}uid:${uid}`);
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode) {
      const id = await client.get(`${prefix}user_code:${userCode}`);
      return id ? this.find(id) : undefined;
    }

    async consume(id) {
      await client.consumeModel(this.key(id), epochSeconds());
    }

    async destroy(id) {
      await client.del(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const grantKey = `${prefix}grant:${grantId}`;
      const members = await client.smembers(grantKey);
      await client.del(grantKey, ...members);
    }
  };
}
