// gen.mjs writes edgeway's embedded price catalog from @pydantic/genai-prices
// (a maintained, machine-readable catalog of LLM API prices). Run it with
// `make prices`, which pins the package version; see scripts/prices/README.md.
//
// Output: one JSON object {source, providers: [{id, api, models: [{id, match,
// context, prices}]}]} with prices in USD per million tokens. Where a model's
// price changed over time, the latest entry without a time-of-day
// constraint is kept; tiered prices keep their base tier.
import { findProvider } from '@pydantic/genai-prices';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// out is the file to write; modules is the node_modules the package was
// installed into (its package.json is not exported, so it is read directly).
const [out, modules] = process.argv.slice(2);
const pkg = JSON.parse(readFileSync(join(modules, '@pydantic/genai-prices/package.json'), 'utf8'));

// The catalog's provider ids for the provider types edgeway speaks.
// (OpenRouter is left out: 500-odd resold models would triple the file.)
const wanted = ['openai', 'anthropic', 'google', 'mistral', 'groq', 'deepseek', 'x-ai', 'together', 'fireworks', 'cohere', 'perplexity'];
const keys = { input_mtok: 'in', output_mtok: 'out', cache_read_mtok: 'cache_read', cache_write_mtok: 'cache_write' };

function base(v) {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && typeof v.base === 'number') return v.base;
  return undefined;
}

function pick(prices) {
  if (!Array.isArray(prices)) return prices;
  const plain = prices.filter((p) => !p.constraint || p.constraint.start_date);
  plain.sort((a, b) => String(a.constraint?.start_date ?? '').localeCompare(String(b.constraint?.start_date ?? '')));
  return (plain.at(-1) ?? prices[0]).prices;
}

const providers = [];
for (const id of wanted) {
  const p = findProvider({ providerId: id });
  if (!p) continue;
  const models = [];
  for (const m of p.models) {
    const src = pick(m.prices) ?? {};
    const prices = {};
    for (const [k, short] of Object.entries(keys)) {
      const v = base(src[k]);
      if (v !== undefined) prices[short] = v;
    }
    if (prices.in === undefined && prices.out === undefined) continue;
    const e = { id: m.id, match: m.match, prices };
    if (m.context_window) e.context = m.context_window;
    models.push(e);
  }
  // api_pattern lets edgeway price an openai-compatible provider by its URL.
  providers.push({ id: p.id, api: p.api_pattern, models });
}
const doc = { source: `${pkg.name}@${pkg.version}`, providers };
writeFileSync(out, JSON.stringify(doc) + '\n');
console.log(`${out}: ${providers.length} providers, ${providers.reduce((n, p) => n + p.models.length, 0)} models from ${doc.source}`);
