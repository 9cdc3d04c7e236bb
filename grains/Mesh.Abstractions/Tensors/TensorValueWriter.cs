using System.Buffers.Binary;
using Mesh.Abstractions.Errors;

namespace Mesh.Abstractions.Tensors;

/// <summary>
/// Fills one tensor's buffer element by element from values parsed out of text (JSON, the command line),
/// checking each value fits the element type. Errors name the tensor and the element's index.
/// </summary>
public sealed class TensorValueWriter
{
    private readonly string _name;
    private readonly TensorElementType _type;
    private readonly byte[] _data;
    private readonly string[]? _strings;
    private readonly int _size;
    private int _index;

    public TensorValueWriter(string name, TensorElementType type, long count)
    {
        if (type is TensorElementType.Undefined or TensorElementType.Float16 or TensorElementType.BFloat16)
            throw new InvalidTensorValueException(name, $"element type {type.DisplayName()} cannot be written as text");
        _name = name;
        _type = type;
        if (type == TensorElementType.String)
        {
            _strings = new string[count];
            _data = [];
        }
        else
        {
            _size = type.ByteSize();
            _data = new byte[count * _size];
        }
        Count = count;
    }

    public long Count { get; }

    public void WriteText(string token)
    {
        token = token.Trim();
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        switch (_type)
        {
            case TensorElementType.String:
                WriteString(token);
                break;
            case TensorElementType.Bool:
                WriteBool(token switch
                {
                    "true" or "True" or "1" => true,
                    "false" or "False" or "0" => false,
                    _ => throw Invalid($"'{token}' is not a bool (true, false, 1, 0)"),
                });
                break;
            case TensorElementType.Float32 or TensorElementType.Float64:
                WriteDouble(double.TryParse(token, System.Globalization.NumberStyles.Float, invariant, out var d) ? d : throw Invalid($"'{token}' is not a number"));
                break;
            case TensorElementType.UInt64:
                WriteUInt64(ulong.TryParse(token, System.Globalization.NumberStyles.Integer, invariant, out var u) ? u : throw Invalid($"'{token}' is not an unsigned integer"));
                break;
            default:
                WriteInt64(long.TryParse(token, System.Globalization.NumberStyles.Integer, invariant, out var l) ? l : throw Invalid($"'{token}' is not an integer"));
                break;
        }
    }

    public void WriteDouble(double value)
    {
        switch (_type)
        {
            case TensorElementType.Float32: BinaryPrimitives.WriteSingleLittleEndian(Next(), (float)value); break;
            case TensorElementType.Float64: BinaryPrimitives.WriteDoubleLittleEndian(Next(), value); break;
            default:
                if (value != Math.Floor(value) || double.IsInfinity(value)) throw Invalid($"{value} is not an integer ({_type.DisplayName()})");
                if (_type == TensorElementType.UInt64 && value >= 0) WriteUInt64((ulong)value);
                else WriteInt64((long)value);
                break;
        }
    }

    public void WriteInt64(long value)
    {
        if (_type is TensorElementType.Float32 or TensorElementType.Float64) { WriteDouble(value); return; }
        if (_type == TensorElementType.UInt64)
        {
            if (value < 0) throw Invalid($"{value} is out of range for uint64");
            WriteUInt64((ulong)value);
            return;
        }
        var (min, max) = _type switch
        {
            TensorElementType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
            TensorElementType.Int16 => (short.MinValue, short.MaxValue),
            TensorElementType.Int32 => (int.MinValue, int.MaxValue),
            TensorElementType.Int64 => (long.MinValue, long.MaxValue),
            TensorElementType.UInt8 => (byte.MinValue, byte.MaxValue),
            TensorElementType.UInt16 => (ushort.MinValue, ushort.MaxValue),
            TensorElementType.UInt32 => (uint.MinValue, (long)uint.MaxValue),
            TensorElementType.Bool => (0L, 1L),
            _ => throw Invalid($"a number cannot be a {_type.DisplayName()} element"),
        };
        if (value < min || value > max) throw Invalid($"{value} is out of range for {_type.DisplayName()}");
        var span = Next();
        switch (_size)
        {
            case 1: span[0] = (byte)value; break;
            case 2: BinaryPrimitives.WriteInt16LittleEndian(span, (short)value); break;
            case 4: BinaryPrimitives.WriteInt32LittleEndian(span, (int)value); break;
            default: BinaryPrimitives.WriteInt64LittleEndian(span, value); break;
        }
    }

    public void WriteUInt64(ulong value)
    {
        if (_type != TensorElementType.UInt64) { WriteInt64(value <= long.MaxValue ? (long)value : throw Invalid($"{value} is out of range for {_type.DisplayName()}")); return; }
        BinaryPrimitives.WriteUInt64LittleEndian(Next(), value);
    }

    public void WriteBool(bool value)
    {
        if (_type != TensorElementType.Bool) throw Invalid($"a bool cannot be a {_type.DisplayName()} element");
        Next()[0] = value ? (byte)1 : (byte)0;
    }

    public void WriteString(string value)
    {
        if (_type is TensorElementType.Float32 or TensorElementType.Float64)
        {
            // How the protocol's JSON carries what JSON numbers cannot.
            WriteDouble(value switch
            {
                "NaN" => double.NaN,
                "Infinity" or "inf" => double.PositiveInfinity,
                "-Infinity" or "-inf" => double.NegativeInfinity,
                _ => throw Invalid($"'{value}' is not a number (only \"NaN\", \"Infinity\" and \"-Infinity\" may be strings)"),
            });
            return;
        }
        if (_strings is null) throw Invalid($"a string cannot be a {_type.DisplayName()} element");
        if (_index >= Count) throw Invalid($"more than {Count} values for its shape");
        _strings[_index++] = value;
    }

    public void Reject(string rule) => throw Invalid(rule);

    public NamedTensor ToTensor(long[] shape)
    {
        if (_index != Count) throw Invalid($"{_index} values given, its shape {NamedTensor.ShapeText(shape)} holds {Count}");
        return new NamedTensor(_name, _type, shape, _data, _strings);
    }

    private Span<byte> Next()
    {
        if (_index >= Count) throw Invalid($"more than {Count} values for its shape");
        return _data.AsSpan(_index++ * _size, _size);
    }

    private InvalidTensorValueException Invalid(string rule) => new(_name, $"element {_index}: {rule}");
}
