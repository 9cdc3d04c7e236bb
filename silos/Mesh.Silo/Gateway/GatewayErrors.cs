using System.Text.Json;
using Grpc.Core;
using Mesh.Abstractions.Errors;

namespace Mesh.Silo.Gateway;

/// <summary>
/// How the mesh's errors are answered over HTTP and gRPC. The status comes from the error's branch, the message
/// is the error's own (it names the input and the rule), and the body is the protocol's <c>{"error": "..."}</c>.
/// </summary>
public static class GatewayErrors
{
    public static (int Http, StatusCode Grpc) StatusOf(Exception e) => e switch
    {
        MeshNotFoundException => (StatusCodes.Status404NotFound, StatusCode.NotFound),
        MeshInvalidArgumentException => (StatusCodes.Status400BadRequest, StatusCode.InvalidArgument),
        DeadlineExceededException or TimeoutException => (StatusCodes.Status504GatewayTimeout, StatusCode.DeadlineExceeded),
        OverloadedException => (StatusCodes.Status429TooManyRequests, StatusCode.ResourceExhausted),
        ModelArtifactUnavailableException => (StatusCodes.Status503ServiceUnavailable, StatusCode.Unavailable),
        // Refused by the model's state, not by the request: Triton's clients read 400 as "not available".
        ModelUnloadedException => (StatusCodes.Status400BadRequest, StatusCode.FailedPrecondition),
        RequestTooLargeException => (StatusCodes.Status413PayloadTooLarge, StatusCode.ResourceExhausted),
        EventStreamConflictException => (StatusCodes.Status409Conflict, StatusCode.Aborted),
        ModelResidencyException => (StatusCodes.Status403Forbidden, StatusCode.PermissionDenied),
        DeviceAuthenticationException or CallerUnauthenticatedException => (StatusCodes.Status401Unauthorized, StatusCode.Unauthenticated),
        CallerForbiddenException => (StatusCodes.Status403Forbidden, StatusCode.PermissionDenied),
        CorruptEventException => (StatusCodes.Status500InternalServerError, StatusCode.DataLoss),
        BadHttpRequestException bad => (bad.StatusCode, StatusCode.InvalidArgument),
        _ => (StatusCodes.Status500InternalServerError, StatusCode.Internal),
    };

    public static string MessageOf(Exception e) => e switch
    {
        MeshException or RequestTooLargeException or BadHttpRequestException => e.Message,
        TimeoutException => "the request's deadline passed before the answer came",
        _ => $"internal error ({e.GetType().Name}); the server log has the details",
    };

    public static Task WriteAsync(HttpContext http, Exception e)
    {
        if (e is OverloadedException overloaded)
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(overloaded.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return WriteAsync(http, StatusOf(e).Http, MessageOf(e));
    }

    public static Task WriteAsync(HttpContext http, int status, string message)
    {
        // A gRPC client reads its status from grpc-status, not from HTTP's; answered in HTTP terms it would report
        // only "Bad gRPC response", without the reason.
        if (http.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true)
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            http.Response.ContentType = "application/grpc";
            http.Response.Headers["grpc-status"] = ((int)GrpcStatusOf(status)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            http.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
            return Task.CompletedTask;
        }
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(JsonSerializer.Serialize(new { error = message }, Json));
    }

    private static StatusCode GrpcStatusOf(int http) => http switch
    {
        StatusCodes.Status400BadRequest => StatusCode.InvalidArgument,
        StatusCodes.Status401Unauthorized => StatusCode.Unauthenticated,
        StatusCodes.Status403Forbidden => StatusCode.PermissionDenied,
        StatusCodes.Status404NotFound => StatusCode.NotFound,
        StatusCodes.Status413PayloadTooLarge or StatusCodes.Status429TooManyRequests => StatusCode.ResourceExhausted,
        StatusCodes.Status501NotImplemented => StatusCode.Unimplemented,
        StatusCodes.Status503ServiceUnavailable => StatusCode.Unavailable,
        StatusCodes.Status504GatewayTimeout => StatusCode.DeadlineExceeded,
        _ => StatusCode.Unknown,
    };

    // Error text quotes names ('input'); the JSON content type makes unescaped quotes safe and keeps them readable.
    public static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static RpcException ToRpc(Exception e) => new(new Status(StatusOf(e).Grpc, MessageOf(e)));
}

/// <summary>A body past the configured limit; answered with 413 naming the limit and its setting.</summary>
public sealed class RequestTooLargeException(long limit, string key)
    : Exception($"the request body is larger than the limit of {limit} bytes ({GatewayOptions.Section}:{key})");
