// Holds a two-turn conversation with a chatflow app through the unmodified npm `dify-client`
// and prints a JSON summary: node chatflow_check.mjs API_BASE CHATFLOW_KEY
import { ChatClient } from "dify-client";

const [apiBase, key] = process.argv.slice(2);
if (!apiBase || !key) {
  console.error("usage: node chatflow_check.mjs API_BASE CHATFLOW_KEY");
  process.exit(2);
}
const client = new ChatClient(key, apiBase);
const user = `node-chatflow-${Math.random().toString(16).slice(2, 10)}`;
try {
  const first = await client.createChatMessage({ name: "Node" }, "First question", user, false, null);
  const conversationId = first.data.conversation_id;
  const second = await client.createChatMessage({}, "Second question", user, false, conversationId);
  const messages = await client.getConversationMessages(user, conversationId);
  console.log(
    JSON.stringify({
      ok: true,
      first: { answer: first.data.answer, mode: first.data.mode, conversation_id: conversationId },
      second: { answer: second.data.answer, conversation_id: second.data.conversation_id },
      history: messages.data.data.map((m) => m.answer),
    }),
  );
} catch (err) {
  const response = err && err.response;
  console.log(JSON.stringify({ ok: false, error: String(err), status: response && response.status, body: response && response.data }));
  process.exit(1);
}
