namespace Migrate.Engine.Transfer;

/// <summary>Bytes moved by one transfer: before compression, and as sent.</summary>
public readonly record struct TransferStats(int Files, long BytesRaw, long BytesOnWire);
