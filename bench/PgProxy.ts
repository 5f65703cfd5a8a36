/**
 * A TCP proxy in front of a PostgreSQL server that counts round trips: the `ReadyForQuery` messages the
 * server sends, one at the end of every query (a simple query, or an extended one at its `Sync`), in
 * or out of a transaction. Bytes pass through untouched in both directions.
 */
import { connect, createServer, type Server, type Socket } from "node:net"

export interface PgProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number
  /** `ReadyForQuery` messages the server has sent so far, over all connections. */
  readonly roundTrips: () => number
  readonly close: () => Promise<void>
}

const readyForQuery = 0x5a // "Z"

/** Counts the server's messages of one connection: a type byte, then a length that includes itself. */
const counter = (onReady: () => void) => {
  let header: Buffer = Buffer.alloc(0)
  let skip = 0
  return (chunk: Buffer) => {
    let i = 0
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i)
        skip -= n
        i += n
        continue
      }
      const take = chunk.subarray(i, i + 5 - header.length)
      header = header.length === 0 ? take : Buffer.concat([header, take])
      i += take.length
      if (header.length < 5) return
      if (header[0] === readyForQuery) onReady()
      skip = header.readUInt32BE(1) - 4
      header = Buffer.alloc(0)
    }
  }
}

/** Starts a proxy on a free loopback port to the server on `127.0.0.1:<target>`. */
export const start = async (target: number): Promise<PgProxy> => {
  let roundTrips = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = connect(target, "127.0.0.1")
    const count = counter(() => roundTrips++)
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true)
      sockets.add(socket)
      socket.once("close", () => sockets.delete(socket))
      socket.on("error", () => {
        client.destroy()
        upstream.destroy()
      })
    }
    upstream.on("data", (chunk: Buffer) => {
      count(chunk)
      client.write(chunk)
    })
    client.pipe(upstream)
    upstream.once("end", () => client.end())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  return {
    port: typeof address === "object" && address ? address.port : 0,
    roundTrips: () => roundTrips,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
