using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Tests.Architecture;

/// <summary>
/// The engine's folders are layers, each using only the ones below it: the
/// table here is the diagram in the README's Architecture section. The test
/// reads the compiled engine, not its sources, so a dependency counts however
/// it is written (a using, a full name, a parent namespace's type seen without
/// either, a lambda's closure or an async state machine). What leaves no trace
/// in IL (a constant's value, nameof, a doc comment's cref) is not seen.
/// </summary>
public sealed class LayeringTests
{
    private const string EnginePrefix = "Migrate.Engine.";

    // Each layer (a folder of src/Engine, as its namespace below Migrate.Engine)
    // and every layer it may use. Credentials stands beside Images..Compat:
    // it needs Linux alone, and Protocol is the first to use both sides.
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Linux"] = [],
        ["Images"] = ["Linux"],
        ["Criu"] = ["Images", "Linux"],
        ["Memory"] = ["Criu", "Images", "Linux"],
        ["Compat"] = ["Memory", "Criu", "Images", "Linux"],
        ["Credentials"] = ["Linux"],
        ["Protocol"] = ["Compat", "Credentials", "Memory", "Criu", "Images", "Linux"],
        ["Migration"] = ["Protocol", "Compat", "Credentials", "Memory", "Criu", "Images", "Linux"],
        ["Migration.Source"] = ["Migration", "Protocol", "Compat", "Credentials", "Memory", "Criu", "Images", "Linux"],
        ["Migration.Target"] = ["Migration", "Protocol", "Compat", "Credentials", "Memory", "Criu", "Images", "Linux"],
    };

    // Code generated into the engine from protos/: migration.proto's messages
    // and gRPC stubs belong to Protocol, the only layer that may know gRPC
    // (CRIU's and the images' protos are already under their layers' namespaces).
    private static readonly Dictionary<string, string> GeneratedNamespaces = new() { ["Migrate.Protocol"] = "Protocol" };

    private static readonly Dictionary<ushort, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(field => (OpCode)field.GetValue(null)!)
        .ToDictionary(code => (ushort)code.Value);

    [Fact]
    public void Every_engine_type_lives_in_a_layer()
    {
        using var engine = EngineTypes.Open();

        var homeless = engine.DeclaredTypes()
            .Select(declared => declared.Type)
            .Where(type => type.Namespace.StartsWith("Migrate", StringComparison.Ordinal) && LayerOf(type.Namespace) is null)
            .Select(type => type.Name)
            .Distinct()
            .ToList();

        Assert.True(homeless.Count == 0, "types outside every layer of LayeringTests.Allowed: " + string.Join(", ", homeless));
    }

    [Fact]
    public void Each_layer_uses_only_the_layers_below_it()
    {
        using var engine = EngineTypes.Open();

        var violations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (handle, type) in engine.DeclaredTypes())
        {
            if (LayerOf(type.Namespace) is not { } layer)
            {
                continue;
            }
            foreach (var used in engine.TypesUsedBy(handle))
            {
                if (LayerOf(used.Namespace) is { } usedLayer && usedLayer != layer && !Allowed[layer].Contains(usedLayer))
                {
                    violations.Add($"{type.Name} ({layer}) uses {used.Name} ({usedLayer})");
                }
            }
        }

        Assert.True(violations.Count == 0, "layering violations:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void The_layer_table_has_no_cycle()
    {
        // A layer may use only layers listed before it, so the table reads bottom-up.
        var seen = new List<string>();
        foreach (var (layer, uses) in Allowed)
        {
            Assert.All(uses, used => Assert.Contains(used, seen));
            seen.Add(layer);
        }
    }

    // The longest layer whose namespace is the type's or encloses it: Images.Proto is in Images.
    private static string? LayerOf(string ns)
    {
        if (GeneratedNamespaces.TryGetValue(ns, out var generated))
        {
            return generated;
        }
        if (!ns.StartsWith(EnginePrefix, StringComparison.Ordinal))
        {
            return null;
        }
        var relative = ns[EnginePrefix.Length..];
        return Allowed.Keys
            .Where(layer => relative == layer || relative.StartsWith(layer + ".", StringComparison.Ordinal))
            .MaxBy(layer => layer.Length);
    }

    /// <summary>A type as the test names it: its outermost declaring type, which nested and compiler-made types count as.</summary>
    private readonly record struct EngineType(string Namespace, string Name);

    /// <summary>The engine assembly's metadata and the types each of its types refers to.</summary>
    private sealed class EngineTypes : IDisposable, ISignatureTypeProvider<IEnumerable<EngineType>, object?>
    {
        private readonly PEReader _pe;
        private readonly MetadataReader _metadata;

        private EngineTypes(PEReader pe)
        {
            _pe = pe;
            _metadata = pe.GetMetadataReader();
        }

        public static EngineTypes Open() => new(new PEReader(File.OpenRead(typeof(PrivateFiles).Assembly.Location)));

        public void Dispose() => _pe.Dispose();

        /// <summary>Every type definition, nested ones included, with the type it counts as.</summary>
        public IEnumerable<(TypeDefinitionHandle Handle, EngineType Type)> DeclaredTypes() =>
            _metadata.TypeDefinitions.Select(handle => (handle, Outermost(handle)));

        /// <summary>
        /// Every engine type <paramref name="handle"/>'s definition names: base type,
        /// interfaces, fields, method signatures, locals, caught exceptions and the
        /// tokens of its IL (calls, fields, casts, allocations, generic arguments).
        /// </summary>
        public List<EngineType> TypesUsedBy(TypeDefinitionHandle handle)
        {
            var definition = _metadata.GetTypeDefinition(handle);
            var used = new List<EngineType>();
            used.AddRange(Resolve(definition.BaseType));
            foreach (var implementation in definition.GetInterfaceImplementations())
            {
                used.AddRange(Resolve(_metadata.GetInterfaceImplementation(implementation).Interface));
            }
            foreach (var field in definition.GetFields())
            {
                used.AddRange(_metadata.GetFieldDefinition(field).DecodeSignature(this, null));
            }
            foreach (var method in definition.GetMethods())
            {
                used.AddRange(UsedByMethod(_metadata.GetMethodDefinition(method)));
            }
            return used;
        }

        private IEnumerable<EngineType> UsedByMethod(MethodDefinition method)
        {
            var signature = method.DecodeSignature(this, null);
            foreach (var type in signature.ParameterTypes.Prepend(signature.ReturnType).SelectMany(types => types))
            {
                yield return type;
            }
            if (method.RelativeVirtualAddress == 0)
            {
                yield break;
            }
            var body = _pe.GetMethodBody(method.RelativeVirtualAddress);
            if (!body.LocalSignature.IsNil)
            {
                var locals = _metadata.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(this, null);
                foreach (var type in locals.SelectMany(types => types))
                {
                    yield return type;
                }
            }
            foreach (var region in body.ExceptionRegions)
            {
                foreach (var type in Resolve(region.CatchType))
                {
                    yield return type;
                }
            }
            var il = body.GetILReader();
            while (il.RemainingBytes > 0)
            {
                foreach (var type in UsedByInstruction(ref il))
                {
                    yield return type;
                }
            }
        }

        // Reads one instruction and returns what its token names, if it has one.
        private List<EngineType> UsedByInstruction(ref BlobReader il)
        {
            ushort value = il.ReadByte();
            if (value == 0xFE)
            {
                value = (ushort)(0xFE00 | il.ReadByte());
            }
            switch (OpCodesByValue[value].OperandType)
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    return Resolve(MetadataTokens.EntityHandle(il.ReadInt32())).ToList();
                case OperandType.InlineSwitch:
                    var targets = il.ReadInt32();
                    il.Offset += 4 * targets;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    il.Offset += 1;
                    break;
                case OperandType.InlineVar:
                    il.Offset += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    il.Offset += 8;
                    break;
                default:
                    // Branch targets, 32-bit immediates, strings and calli signatures: nothing of the engine's.
                    il.Offset += 4;
                    break;
            }
            return [];
        }

        private IEnumerable<EngineType> Resolve(EntityHandle handle)
        {
            if (handle.IsNil)
            {
                return [];
            }
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition:
                    return [Outermost((TypeDefinitionHandle)handle)];
                case HandleKind.TypeSpecification:
                    return _metadata.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null);
                case HandleKind.FieldDefinition:
                    return [Outermost(_metadata.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType())];
                case HandleKind.MethodDefinition:
                    return [Outermost(_metadata.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType())];
                case HandleKind.MemberReference:
                    return Resolve(_metadata.GetMemberReference((MemberReferenceHandle)handle).Parent);
                case HandleKind.MethodSpecification:
                    var specification = _metadata.GetMethodSpecification((MethodSpecificationHandle)handle);
                    return Resolve(specification.Method).Concat(specification.DecodeSignature(this, null).SelectMany(types => types));
                default:
                    // Type references are other assemblies' types.
                    return [];
            }
        }

        private EngineType Outermost(TypeDefinitionHandle handle)
        {
            var definition = _metadata.GetTypeDefinition(handle);
            while (definition.GetDeclaringType() is { IsNil: false } declaring)
            {
                definition = _metadata.GetTypeDefinition(declaring);
            }
            var ns = _metadata.GetString(definition.Namespace);
            var name = _metadata.GetString(definition.Name);
            return new EngineType(ns, ns.Length == 0 ? name : $"{ns}.{name}");
        }

        public IEnumerable<EngineType> GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) =>
            [Outermost(handle)];

        public IEnumerable<EngineType> GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => [];

        public IEnumerable<EngineType> GetTypeFromSpecification(MetadataReader reader, object? genericContext,
            TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);

        public IEnumerable<EngineType> GetGenericInstantiation(IEnumerable<EngineType> genericType, ImmutableArray<IEnumerable<EngineType>> typeArguments) =>
            genericType.Concat(typeArguments.SelectMany(types => types));

        public IEnumerable<EngineType> GetFunctionPointerType(MethodSignature<IEnumerable<EngineType>> signature) =>
            signature.ParameterTypes.Prepend(signature.ReturnType).SelectMany(types => types);

        public IEnumerable<EngineType> GetModifiedType(IEnumerable<EngineType> modifier, IEnumerable<EngineType> unmodifiedType, bool isRequired) =>
            modifier.Concat(unmodifiedType);

        public IEnumerable<EngineType> GetArrayType(IEnumerable<EngineType> elementType, ArrayShape shape) => elementType;

        public IEnumerable<EngineType> GetSZArrayType(IEnumerable<EngineType> elementType) => elementType;

        public IEnumerable<EngineType> GetByReferenceType(IEnumerable<EngineType> elementType) => elementType;

        public IEnumerable<EngineType> GetPointerType(IEnumerable<EngineType> elementType) => elementType;

        public IEnumerable<EngineType> GetPinnedType(IEnumerable<EngineType> elementType) => elementType;

        public IEnumerable<EngineType> GetPrimitiveType(PrimitiveTypeCode typeCode) => [];

        public IEnumerable<EngineType> GetGenericMethodParameter(object? genericContext, int index) => [];

        public IEnumerable<EngineType> GetGenericTypeParameter(object? genericContext, int index) => [];
    }
}
