// POST /auth: check credentials against a registry the way dockerd does (`docker login` calls it
// before storing anything). Answers {"Status":"Login Succeeded","IdentityToken":""}.
import type { Daemon } from '../daemon/daemon.js';
import type { RegistryAuth } from '../registry/types.js';
import { InvalidParameterError } from '../util/errors.js';
import { readJson, sendJson } from './http.js';
import type { Router } from './router.js';

export function registerAuthRoutes(router: Router, daemon: Daemon): void {
  router.add('POST', '/auth', async (ctx) => {
    const body = await readJson<RegistryAuth & { email?: string }>(ctx);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidParameterError('invalid auth configuration: expected a JSON object');
    const server = body.serveraddress || 'https://index.docker.io/v1/';
    await daemon.registry.login(server, body);
    sendJson(ctx, 200, { Status: 'Login Succeeded', IdentityToken: '' });
  });
}
