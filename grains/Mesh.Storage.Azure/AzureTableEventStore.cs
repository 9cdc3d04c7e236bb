using System.Globalization;
using System.Text;
using Azure;
using Azure.Data.Tables;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Grains.Events;

namespace Mesh.Storage.Azure;

/// <summary>
/// The production event store on Azure Table Storage. A region's whole log lives in one partition, because only
/// an entity group transaction (one partition, all or nothing) can move a stream's head, write the event and give
/// it the next feed position at once; with the feed in another partition a crash between two writes would leave a
/// gap or a duplicate. Control-plane events (models, devices' twins) come at tens per second, far under a
/// partition's limit of about 2,000 entities per second.
/// Rows: <c>h|stream</c> (the stream's last version), <c>s|stream|version</c> and <c>f|position</c> (the event,
/// read by stream and by feed), <c>i|id</c> (one per event id, so an id is stored once), <c>counter</c> (the feed's
/// last position). Checkpoints and snapshots sit in their own partitions.
/// </summary>
public sealed class AzureTableEventStore(TableClient table) : IEventStore
{
    private const string LogPartition = "log";
    private const string CheckpointPartition = "checkpoint";
    private const string SnapshotPartition = "snapshot";
    private const string CounterRow = "counter";
    // A string property holds at most 64 KiB (32K UTF-16 characters); longer payloads are cut into several.
    private const int ChunkChars = 30_000;
    private const int MaxChunks = 15;
    private readonly SemaphoreSlim _created = new(1, 1);
    private bool _exists;

    private async Task EnsureTableAsync(CancellationToken cancellation)
    {
        if (_exists) return;
        await _created.WaitAsync(cancellation);
        try
        {
            if (!_exists) await table.CreateIfNotExistsAsync(cancellation);
            _exists = true;
        }
        finally
        {
            _created.Release();
        }
    }

    public async Task<IReadOnlyList<EventEnvelope>> AppendAsync(string stream, long expectedVersion, IReadOnlyList<EventData> events, CancellationToken cancellation = default)
    {
        EventStoreRules.CheckAppend(stream, expectedVersion, events);
        foreach (var e in events)
        {
            if (e.Data.Length > ChunkChars * MaxChunks)
                throw new ArgumentException($"event stream '{stream}': event {e.Id} has {e.Data.Length} characters of data, more than the {ChunkChars * MaxChunks} an Azure Table entity holds", nameof(events));
        }
        await EnsureTableAsync(cancellation);
        // Another stream's append may take the feed counter between our read and our write: that is no conflict
        // for this stream, so try again with the new counter. Bounded, with jitter, so racing writers spread out.
        for (var attempt = 1; ; attempt++)
        {
            var head = await GetAsync(LogPartition, HeadRow(stream), cancellation);
            var actual = head is null ? 0 : head.GetInt64("Version")!.Value;
            if (actual != expectedVersion)
                throw new EventStreamConflictException(stream, expectedVersion, actual);
            var counter = await GetAsync(LogPartition, CounterRow, cancellation);
            var position = counter is null ? 0 : counter.GetInt64("Position")!.Value;

            var actions = new List<TableTransactionAction>(events.Count * 3 + 2);
            var stored = new List<EventEnvelope>(events.Count);
            var version = expectedVersion;
            foreach (var e in events)
            {
                version++;
                position++;
                var envelope = new EventEnvelope(e.Id, stream, version, position, e.Type, e.SchemaVersion,
                    DateTimeOffset.FromUnixTimeMilliseconds(e.Timestamp.ToUnixTimeMilliseconds()), e.Actor, e.Region, e.Data, e.Hlc, e.TraceParent);
                stored.Add(envelope);
                actions.Add(new TableTransactionAction(TableTransactionActionType.Add, ToEntity(StreamRow(stream, version), envelope)));
                actions.Add(new TableTransactionAction(TableTransactionActionType.Add, ToEntity(FeedRow(position), envelope)));
                actions.Add(new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(LogPartition, IdRow(e.Id))));
            }
            actions.Add(head is null
                ? new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(LogPartition, HeadRow(stream)) { ["Version"] = version })
                : new TableTransactionAction(TableTransactionActionType.UpdateReplace, new TableEntity(LogPartition, HeadRow(stream)) { ["Version"] = version }, head.ETag));
            actions.Add(counter is null
                ? new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(LogPartition, CounterRow) { ["Position"] = position })
                : new TableTransactionAction(TableTransactionActionType.UpdateReplace, new TableEntity(LogPartition, CounterRow) { ["Position"] = position }, counter.ETag));
            try
            {
                await table.SubmitTransactionAsync(actions, cancellation);
                return stored;
            }
            catch (TableTransactionFailedException failed) when (failed.Status is 409 or 412)
            {
                if (failed.FailedTransactionActionIndex is int index && index < events.Count * 3 && index % 3 == 2)
                    throw new ArgumentException($"event stream '{stream}': event id {events[index / 3].Id} is already stored; nothing was appended", nameof(events), failed);
                if (attempt >= 100) throw;
                await Task.Delay(Random.Shared.Next(1, 5 * Math.Min(attempt, 10)), cancellation);
            }
        }
    }

    public async Task<IReadOnlyList<EventEnvelope>> ReadStreamAsync(string stream, long fromVersion = 1, int maxCount = int.MaxValue, CancellationToken cancellation = default)
    {
        EventStoreRules.CheckStream(stream);
        var prefix = "s|" + Escape(stream) + "|";
        return await RangeAsync(prefix, StreamRow(stream, Math.Max(1, fromVersion)), maxCount, cancellation);
    }

    public Task<IReadOnlyList<EventEnvelope>> ReadFeedAsync(long fromPosition, int maxCount, CancellationToken cancellation = default) =>
        RangeAsync("f|", FeedRow(Math.Max(1, fromPosition)), maxCount, cancellation);

    private async Task<IReadOnlyList<EventEnvelope>> RangeAsync(string prefix, string from, int maxCount, CancellationToken cancellation)
    {
        await EnsureTableAsync(cancellation);
        var result = new List<EventEnvelope>();
        if (maxCount <= 0) return result;
        // '}' sorts after every character a key part uses ('|', digits, escaped names), so this is "starts with prefix".
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {LogPartition} and RowKey ge {from} and RowKey lt {prefix + "}"}");
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(maxCount, 1000), cancellationToken: cancellation))
        {
            result.Add(FromEntity(entity));
            if (result.Count >= maxCount) break;
        }
        return result;
    }

    public async Task<long> GetStreamVersionAsync(string stream, CancellationToken cancellation = default)
    {
        EventStoreRules.CheckStream(stream);
        await EnsureTableAsync(cancellation);
        return (await GetAsync(LogPartition, HeadRow(stream), cancellation))?.GetInt64("Version") ?? 0;
    }

    public async Task<bool> ContainsAsync(Guid id, CancellationToken cancellation = default)
    {
        await EnsureTableAsync(cancellation);
        return await GetAsync(LogPartition, IdRow(id), cancellation) is not null;
    }

    public async Task<long> GetFeedHeadAsync(CancellationToken cancellation = default)
    {
        await EnsureTableAsync(cancellation);
        return (await GetAsync(LogPartition, CounterRow, cancellation))?.GetInt64("Position") ?? 0;
    }

    public async Task<long> GetCheckpointAsync(string reader, CancellationToken cancellation = default)
    {
        await EnsureTableAsync(cancellation);
        return (await GetAsync(CheckpointPartition, Escape(reader), cancellation))?.GetInt64("Position") ?? 0;
    }

    public async Task SaveCheckpointAsync(string reader, long position, CancellationToken cancellation = default)
    {
        await EnsureTableAsync(cancellation);
        await table.UpsertEntityAsync(new TableEntity(CheckpointPartition, Escape(reader)) { ["Position"] = position }, TableUpdateMode.Replace, cancellation);
    }

    public async Task<StreamSnapshot?> ReadSnapshotAsync(string stream, CancellationToken cancellation = default)
    {
        await EnsureTableAsync(cancellation);
        var entity = await GetAsync(SnapshotPartition, Escape(stream), cancellation);
        return entity is null ? null : new StreamSnapshot(stream, entity.GetInt64("Version")!.Value, entity.GetInt32("Schema")!.Value, ReadData(entity));
    }

    public async Task SaveSnapshotAsync(StreamSnapshot snapshot, CancellationToken cancellation = default)
    {
        await EnsureTableAsync(cancellation);
        var entity = new TableEntity(SnapshotPartition, Escape(snapshot.Stream)) { ["Version"] = snapshot.Version, ["Schema"] = snapshot.SchemaVersion };
        WriteData(entity, snapshot.Data);
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var current = await GetAsync(SnapshotPartition, entity.RowKey, cancellation);
            if (current is not null && current.GetInt64("Version") >= snapshot.Version) return;
            try
            {
                if (current is null) await table.AddEntityAsync(entity, cancellation);
                else await table.UpdateEntityAsync(entity, current.ETag, TableUpdateMode.Replace, cancellation);
                return;
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                // Another silo saved one meanwhile; look again whether ours is still newer.
            }
        }
    }

    private async Task<TableEntity?> GetAsync(string partition, string row, CancellationToken cancellation)
    {
        var response = await table.GetEntityIfExistsAsync<TableEntity>(partition, row, cancellationToken: cancellation);
        return response.HasValue ? response.Value : null;
    }

    private static TableEntity ToEntity(string row, EventEnvelope e)
    {
        var entity = new TableEntity(LogPartition, row)
        {
            ["Id"] = e.Id,
            ["Stream"] = e.Stream,
            ["StreamVersion"] = e.Version,
            ["Position"] = e.Position,
            ["Type"] = e.Type,
            ["Schema"] = e.SchemaVersion,
            ["Time"] = e.Timestamp,
            ["Actor"] = e.Actor,
            ["Region"] = e.Region,
            ["Hlc"] = e.Hlc,
            ["TraceParent"] = e.TraceParent,
        };
        WriteData(entity, e.Data);
        return entity;
    }

    private static EventEnvelope FromEntity(TableEntity entity) =>
        new(entity.GetGuid("Id")!.Value, entity.GetString("Stream"), entity.GetInt64("StreamVersion")!.Value, entity.GetInt64("Position")!.Value,
            entity.GetString("Type"), entity.GetInt32("Schema")!.Value, entity.GetDateTimeOffset("Time")!.Value,
            entity.GetString("Actor"), entity.GetString("Region"), ReadData(entity), entity.GetInt64("Hlc") ?? 0, entity.GetString("TraceParent"));

    private static void WriteData(TableEntity entity, string data)
    {
        var chunks = Math.Max(1, (data.Length + ChunkChars - 1) / ChunkChars);
        entity["Chunks"] = chunks;
        for (var c = 0; c < chunks; c++)
            entity["Data" + c.ToString(CultureInfo.InvariantCulture)] = data.Substring(c * ChunkChars, Math.Min(ChunkChars, data.Length - c * ChunkChars));
    }

    private static string ReadData(TableEntity entity)
    {
        var chunks = entity.GetInt32("Chunks") ?? 1;
        if (chunks == 1) return entity.GetString("Data0") ?? "";
        var data = new StringBuilder();
        for (var c = 0; c < chunks; c++) data.Append(entity.GetString("Data" + c.ToString(CultureInfo.InvariantCulture)));
        return data.ToString();
    }

    private static string HeadRow(string stream) => "h|" + Escape(stream);

    private static string StreamRow(string stream, long version) => "s|" + Escape(stream) + "|" + version.ToString("D19", CultureInfo.InvariantCulture);

    private static string FeedRow(long position) => "f|" + position.ToString("D19", CultureInfo.InvariantCulture);

    private static string IdRow(Guid id) => "i|" + id.ToString("N");

    // Row keys may not hold '/', '\', '#', '?' or control characters; '%' and '|' are escaped too so that keys
    // stay unambiguous and sort within their prefix.
    private static string Escape(string value)
    {
        var escaped = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            if (c is '/' or '\\' or '#' or '?' or '%' or '|' or '}' || char.IsControl(c)) escaped.Append('%').Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            else escaped.Append(c);
        }
        return escaped.ToString();
    }
}
