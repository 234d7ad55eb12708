// anthropic_sdk_fidelity.cjs drives edgeway with the official Anthropic
// TypeScript SDK (found through NODE_PATH): one streamed and one whole
// request carrying adaptive thinking, prompt-cache breakpoints and a
// mid-conversation system message, with the beta that allows it. It
// prints what the SDK made of the answers as one JSON object.
const Anthropic = require('@anthropic-ai/sdk').default;

const client = new Anthropic({ baseURL: process.env.EDGEWAY_URL, apiKey: 'unused', maxRetries: 0, timeout: 30000 });

const params = {
  model: process.env.MODEL,
  max_tokens: 256,
  thinking: { type: 'adaptive' },
  system: [{ type: 'text', text: 'You are a coding agent.', cache_control: { type: 'ephemeral' } }],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'How many files are there?', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
    { role: 'system', content: 'Answer in two words.' },
  ],
};
const options = { headers: { 'anthropic-beta': process.env.BETA } };

(async () => {
  const stream = client.messages.stream(params, options);
  const streamed = await stream.finalMessage();
  const { data: whole, response } = await client.messages.create(params, options).withResponse();
  process.stdout.write(JSON.stringify({
    streamed,
    whole,
    dropped: response.headers.get('x-edgeway-dropped'),
    provider: response.headers.get('x-edgeway-provider'),
  }));
})().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
