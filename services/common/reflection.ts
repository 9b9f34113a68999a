import { clone, toBinary, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** A reflection request of either version, as far as answering it goes (the two are the same on the wire). */
type ReflectionQuery =
  | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: undefined; value?: undefined };

/** The answer part of a ServerReflectionResponse (the `message_response` oneof), as a plain object. */
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: Array<{ name: string }> } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

const notFound = (errorMessage: string): ReflectionAnswer => ({ case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage } });

/**
 * What server reflection tells about a set of services, built from their generated
 * descriptors: the services' names, and the files that define them (with their imports).
 * Services outside the set are left out of the files too, so an internal service defined
 * beside a public one (PresenceService in room.proto) stays unknown to clients.
 */
export function createReflectionIndex(services: readonly DescService[]) {
  const serviceNames = new Set(services.map((s) => s.typeName));
  const files = new Map<string, DescFile>();
  const collect = (file: DescFile) => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    file.dependencies.forEach(collect);
  };
  services.forEach((s) => collect(s.file));

  const encoded = new Map<string, Uint8Array>();
  const fileOfSymbol = new Map<string, DescFile>();
  const messages = new Set<string>();
  const addMessage = (file: DescFile, message: DescMessage) => {
    messages.add(message.typeName);
    fileOfSymbol.set(message.typeName, file);
    for (const field of message.fields) fileOfSymbol.set(`${message.typeName}.${field.name}`, file);
    for (const oneof of message.oneofs) fileOfSymbol.set(`${message.typeName}.${oneof.name}`, file);
    for (const e of message.nestedEnums) fileOfSymbol.set(e.typeName, file);
    for (const nested of message.nestedMessages) addMessage(file, nested);
  };
  for (const file of files.values()) {
    const proto = clone(FileDescriptorProtoSchema, file.proto);
    const prefix = proto.package === "" ? "" : `${proto.package}.`;
    proto.service = proto.service.filter((s) => serviceNames.has(prefix + s.name));
    encoded.set(file.name, toBinary(FileDescriptorProtoSchema, proto));
    for (const message of file.messages) addMessage(file, message);
    for (const e of file.enums) fileOfSymbol.set(e.typeName, file);
    for (const service of file.services.filter((s) => serviceNames.has(s.typeName))) {
      fileOfSymbol.set(service.typeName, file);
      for (const method of service.methods) fileOfSymbol.set(`${service.typeName}.${method.name}`, file);
    }
  }

  /** The file, then its imports not sent on this stream yet (a client keeps what it got). */
  function descriptors(file: DescFile, sent: Set<string>): ReflectionAnswer {
    const out: Uint8Array[] = [];
    const add = (f: DescFile, requested: boolean) => {
      if (!requested && sent.has(f.name)) return;
      sent.add(f.name);
      out.push(encoded.get(f.name)!);
      for (const dep of f.dependencies) add(dep, false);
    };
    add(file, true);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  }

  return {
    serviceNames: [...serviceNames],

    /** The answer to one reflection request; `sent` holds the files sent on this stream so far. */
    answer(query: ReflectionQuery, sent: Set<string>): ReflectionAnswer {
      switch (query.case) {
        case "listServices":
          return { case: "listServicesResponse", value: { service: [...serviceNames].map((name) => ({ name })) } };
        case "fileByFilename": {
          const file = files.get(query.value);
          return file ? descriptors(file, sent) : notFound(`no file ${query.value}`);
        }
        case "fileContainingSymbol": {
          const symbol = query.value.replace(/^\./, "");
          const file = fileOfSymbol.get(symbol);
          return file ? descriptors(file, sent) : notFound(`no symbol ${symbol}`);
        }
        case "fileContainingExtension":
          // The contracts define no extensions.
          return notFound(`no extension ${query.value.extensionNumber} of ${query.value.containingType}`);
        case "allExtensionNumbersOfType":
          return messages.has(query.value)
            ? { case: "allExtensionNumbersResponse", value: { baseTypeName: query.value, extensionNumber: [] } }
            : notFound(`no message type ${query.value}`);
        default:
          return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "empty reflection request" } };
      }
    },
  };
}

export type ReflectionIndex = ReturnType<typeof createReflectionIndex>;

/**
 * A ServerReflectionInfo handler: answers each request on the stream in order, echoing it.
 * Both protocol versions share it; their messages differ only in their package. Clients keep
 * the stream open while they work (buf curl holds it for the whole call), so it ends when the
 * call's signal does (the server shutting down) rather than waiting for the next request.
 */
function reflectionInfo<Req extends { host: string; messageRequest: ReflectionQuery }>(index: ReflectionIndex) {
  return async function* (requests: AsyncIterable<Req>, ctx: HandlerContext) {
    const sent = new Set<string>();
    const input = requests[Symbol.asyncIterator]();
    const ended = new Promise<never>((_, reject) => {
      const onAbort = () => reject(ctx.signal.reason);
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener("abort", onAbort, { once: true });
    });
    ended.catch(() => undefined); // observed through the race below
    for (;;) {
      const next = await Promise.race([input.next(), ended]);
      if (next.done) return;
      const request = next.value;
      yield { validHost: request.host, originalRequest: request, messageResponse: index.answer(request.messageRequest, sent) };
    }
  };
}

/**
 * Serves grpc.reflection.v1 and v1alpha (the older one, which grpcurl and older tools still
 * ask first or fall back to) for these services and the reflection services themselves, so
 * `buf curl --list-methods`, calls without `--schema`, and grpcurl work against the server.
 * Connect-ES has no reflection of its own; this one is built from the generated descriptors.
 */
export function reflectionRoutes(services: readonly DescService[]) {
  const index = createReflectionIndex([...services, v1.ServerReflection, v1alpha.ServerReflection]);
  return (router: ConnectRouter) =>
    router
      .service(v1.ServerReflection, { serverReflectionInfo: reflectionInfo(index) })
      .service(v1alpha.ServerReflection, {
        serverReflectionInfo: reflectionInfo(index),
      });
}
