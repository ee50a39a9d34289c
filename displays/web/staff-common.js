// Helpers shared by the displays staff pages (pairing, admin).

// api calls the REST API and throws an Error whose message is the hub's.
export async function api(method, path, body) {
  const r = await fetch(path, {
    method, credentials: 'same-origin',
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new Error('unauthenticated');
  }
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = data.error || {};
    const err = new Error(e.field ? `${e.field}: ${e.message}` : e.message || r.statusText);
    err.field = e.field;
    throw err;
  }
  return data;
}

// fillUnits fills the province select, and the commune select with the
// communes of the chosen province (first option: the whole province).
export async function fillUnits(provinceSel, communeSel, wholeLabel, preset = {}) {
  const { units } = await api('GET', '/api/v1/units');
  provinceSel.replaceChildren(...units.map((u) => new Option(`${u.name} (${u.code})`, u.code)));
  if (preset.province) provinceSel.value = preset.province;
  async function communes() {
    const { units: cs } = await api('GET', `/api/v1/units?parent=${encodeURIComponent(provinceSel.value)}`);
    communeSel.replaceChildren(new Option(wholeLabel, ''), ...cs.map((u) => new Option(`${u.name} (${u.code})`, u.code)));
    if (preset.commune) { communeSel.value = preset.commune; preset.commune = ''; }
  }
  provinceSel.addEventListener('change', communes);
  await communes();
}

export function scopeOf(provinceSel, communeSel) {
  return communeSel.value || provinceSel.value;
}
