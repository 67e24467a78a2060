// Drives the unmodified npm `dify-client` SDK against a running headrace server and prints a
// JSON summary of what every call returned. Exits 1 when any step failed, 2 on bad usage.
//
//   node sdk_check.mjs <main|stop> [API_BASE CHAT_KEY COMPLETION_KEY]
//
// Without the positional arguments the values come from HEADRACE_SDK_API_BASE,
// HEADRACE_SDK_CHAT_KEY and HEADRACE_SDK_COMPLETION_KEY. API_BASE ends in `/v1`.
//
// Phases: `main` runs with the upstream's default echo replies (answer = "Echo: <query>");
// `stop` expects the upstream to have been scripted with a slow reply first.
import { ChatClient, CompletionClient } from "dify-client";

const [phase, argBase, argChatKey, argCompletionKey] = process.argv.slice(2);
const apiBase = argBase || process.env.HEADRACE_SDK_API_BASE;
const chatKey = argChatKey || process.env.HEADRACE_SDK_CHAT_KEY;
const completionKey = argCompletionKey || process.env.HEADRACE_SDK_COMPLETION_KEY;
if (!["main", "stop"].includes(phase) || !apiBase || !chatKey || !completionKey) {
  console.error("usage: node sdk_check.mjs <main|stop> API_BASE CHAT_KEY COMPLETION_KEY");
  process.exit(2);
}

const chat = new ChatClient(chatKey, apiBase);
const completion = new CompletionClient(completionKey, apiBase);
const user = `node-sdk-${Math.random().toString(16).slice(2, 10)}`;
const summary = { phase, user, ok: true, steps: {} };

/** Run one step; record its result or its failure (HTTP status and body when axios has them). */
async function step(name, fn) {
  try {
    summary.steps[name] = { ok: true, ...(await fn()) };
  } catch (err) {
    summary.ok = false;
    const response = err && err.response;
    let body = response ? response.data : undefined;
    if (body && typeof body.on === "function") body = await readAll(body);
    summary.steps[name] = {
      ok: false,
      error: String((err && err.message) || err),
      status: response ? response.status : undefined,
      body,
    };
  }
  return summary.steps[name];
}

async function readAll(stream) {
  let text = "";
  for await (const chunk of stream) text += chunk.toString("utf8");
  return text;
}

/**
 * Read an SSE body (axios `responseType: "stream"`), yielding the JSON of each `data:` frame.
 * Keep-alive frames (`event: ping`) are skipped.
 */
async function* sseEvents(stream) {
  let buffer = "";
  for await (const chunk of stream) {
    buffer += chunk.toString("utf8");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = frame
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (!data) continue;
      const event = JSON.parse(data);
      if (event.event === "ping") continue;
      yield event;
    }
  }
}

/** Collect a whole stream into a summary of its events. */
async function collect(response, onFirstMessage) {
  const events = [];
  let answer = "";
  for await (const event of sseEvents(response.data)) {
    events.push(event);
    if (event.event === "message") {
      if (answer === "" && onFirstMessage) await onFirstMessage(event);
      answer += event.answer;
    }
    if (event.event === "error") throw new Error(`error event: ${JSON.stringify(event)}`);
  }
  const end = events.find((e) => e.event === "message_end");
  const firstMessage = events.find((e) => e.event === "message") || {};
  return {
    status: response.status,
    contentType: String(response.headers["content-type"] || ""),
    eventNames: events.map((e) => e.event),
    answer,
    taskId: firstMessage.task_id,
    messageId: firstMessage.message_id,
    conversationId: firstMessage.conversation_id,
    messageEnd: Boolean(end),
    usage: end && end.metadata ? end.metadata.usage : null,
  };
}

async function mainPhase() {
  await step("getApplicationParameters", async () => {
    const { status, data } = await chat.getApplicationParameters(user);
    return {
      status,
      openingStatement: data.opening_statement,
      imageUpload: data.file_upload && data.file_upload.image,
      inputs: (data.user_input_form || []).map((item) => Object.values(item)[0].variable),
    };
  });

  const blocking = await step("chatBlocking", async () => {
    const { status, data } = await chat.createChatMessage(
      { name: "Node" },
      "Hello from node",
      user,
      false,
    );
    return {
      status,
      answer: data.answer,
      mode: data.mode,
      messageId: data.message_id,
      conversationId: data.conversation_id,
      totalTokens: data.metadata && data.metadata.usage && data.metadata.usage.total_tokens,
    };
  });
  const conversationId = blocking.conversationId;

  await step("chatStreaming", async () => {
    const response = await chat.createChatMessage(
      { name: "Node" },
      "Stream to node",
      user,
      true,
      conversationId,
    );
    return collect(response);
  });

  await step("getConversations", async () => {
    const { status, data } = await chat.getConversations(user);
    return {
      status,
      hasMore: data.has_more,
      limit: data.limit,
      conversations: data.data.map((c) => ({ id: c.id, name: c.name, inputs: c.inputs })),
    };
  });

  await step("renameConversation", async () => {
    const { status, data } = await chat.renameConversation(
      conversationId,
      "Renamed by node",
      user,
    );
    return { status, id: data.id, name: data.name };
  });

  await step("getConversationsAfterRename", async () => {
    const { status, data } = await chat.getConversations(user);
    return { status, conversations: data.data.map((c) => ({ id: c.id, name: c.name })) };
  });

  await step("getConversationMessages", async () => {
    const { status, data } = await chat.getConversationMessages(user, conversationId);
    return {
      status,
      hasMore: data.has_more,
      messages: data.data.map((m) => ({ id: m.id, query: m.query, answer: m.answer })),
    };
  });

  await step("messageFeedback", async () => {
    const { status, data } = await chat.messageFeedback(blocking.messageId, "like", user);
    return { status, result: data.result };
  });

  await step("feedbackVisibleInMessages", async () => {
    const { data } = await chat.getConversationMessages(user, conversationId);
    const message = data.data.find((m) => m.id === blocking.messageId);
    return { feedback: message ? message.feedback : undefined };
  });

  await step("completionBlocking", async () => {
    const { status, data } = await completion.createCompletionMessage(
      { text: "Bonjour node" },
      user,
      false,
    );
    return { status, answer: data.answer, mode: data.mode, messageId: data.message_id };
  });

  await step("completionStreaming", async () => {
    const response = await completion.createCompletionMessage(
      { text: "Bonsoir node" },
      user,
      true,
    );
    return collect(response);
  });

  const upload = await step("fileUpload", async () => {
    const png = Buffer.from(process.env.HEADRACE_SDK_PNG_BASE64 || "", "base64");
    const form = new FormData();
    form.append("file", new Blob([png], { type: "image/png" }), "node-pixel.png");
    form.append("user", user);
    const { status, data } = await chat.fileUpload(form);
    return {
      status,
      id: data.id,
      name: data.name,
      size: data.size,
      extension: data.extension,
      mimeType: data.mime_type,
      createdBy: data.created_by,
    };
  });

  const withImage = await step("chatWithUploadedImage", async () => {
    const files = [{ type: "image", transfer_method: "local_file", upload_file_id: upload.id }];
    const { status, data } = await chat.createChatMessage(
      { name: "Node" },
      "Describe the picture",
      user,
      false,
      null,
      files,
    );
    return { status, answer: data.answer, conversationId: data.conversation_id };
  });

  await step("deleteConversation", async () => {
    const { status, data } = await chat.deleteConversation(withImage.conversationId, user);
    const after = await chat.getConversations(user);
    return {
      status,
      body: data === undefined ? null : data,
      remaining: after.data.data.map((c) => c.id),
    };
  });
}

async function stopPhase() {
  await step("chatStop", async () => {
    let stopResult = null;
    const startedAt = Date.now();
    const response = await chat.createChatMessage({ name: "Node" }, "Talk slowly", user, true);
    const result = await collect(response, async (first) => {
      // The published SDK has no stop method; use its own generic request helper.
      const stopped = await chat.sendRequest("POST", `/chat-messages/${first.task_id}/stop`, {
        user,
      });
      stopResult = { status: stopped.status, result: stopped.data.result };
    });
    return { ...result, stop: stopResult, elapsedMs: Date.now() - startedAt };
  });
}

if (phase === "main") await mainPhase();
else await stopPhase();

console.log(JSON.stringify(summary));
process.exitCode = summary.ok ? 0 : 1;
