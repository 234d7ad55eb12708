// ollama_ps.mjs asks edgeway (HOST) for the loaded models with ollama-js
// and prints them as JSON.
import { Ollama } from 'ollama';

const ollama = new Ollama({ host: process.env.HOST });
const ps = await ollama.ps();
const tags = await ollama.list();
console.log(JSON.stringify({ ps: ps.models.map((m) => m.name), tags: tags.models.map((m) => m.name) }));
