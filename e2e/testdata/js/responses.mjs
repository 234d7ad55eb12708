// responses.mjs drives edgeway's /v1/responses with the openai npm SDK
// (plain, streamed, a tool call) and the Vercel AI SDK's default
// openai(model), which speaks the Responses API; it prints what each got
// as one JSON line. BASE is the gateway's URL.
import OpenAI from 'openai';
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';

const base = process.env.BASE + '/v1';
const client = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
const out = {};

const r = await client.responses.create({ model: 'chat', input: 'capital of France?' });
out.plain = r.output_text;

const stream = await client.responses.create({ model: 'chat', input: 'again', stream: true });
let text = '';
let completed = null;
for await (const ev of stream) {
  if (ev.type === 'response.output_text.delta') text += ev.delta;
  if (ev.type === 'response.completed') completed = ev.response;
}
out.stream = text;
out.streamTotalTokens = completed?.usage?.total_tokens ?? 0;

const t = await client.responses.create({
  model: 'chat',
  input: 'weather in Paris?',
  tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
});
out.toolCall = t.output.find((i) => i.type === 'function_call') ?? null;

const openai = createOpenAI({ baseURL: base, apiKey: 'unused' });
out.vercel = (await generateText({ model: openai('chat'), prompt: 'capital of France?', maxRetries: 0 })).text;
let vs = '';
for await (const d of streamText({ model: openai('chat'), prompt: 'again', maxRetries: 0 }).textStream) vs += d;
out.vercelStream = vs;

console.log(JSON.stringify(out));
