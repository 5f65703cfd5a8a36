// Placeholder until the benchmarks issue (#6) lands: `pnpm bench` will run the send-overhead,
// conversation-throughput, idle-dialog and failover-cost benchmarks from here and print ratio tables.
console.log("No benchmarks yet: they arrive with the benchmarks issue. See bench/README.md.")
