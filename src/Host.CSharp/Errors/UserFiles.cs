namespace GcnKd.Host.Errors;

/// <summary>Reading a user-named file, with every failure turned into one clear GcnKdUserError.</summary>
public static class UserFiles
{
    /// <summary>All bytes of `path`; `what` names the file in messages ("checkpoint", "" for plain data files).</summary>
    public static byte[] ReadAllBytes(string path, string what = "")
    {
        string name = what.Length == 0 ? path : $"{what} {path}";
        if (Directory.Exists(path))
            throw new GcnKdUserError($"{name} is a directory; expected a file");
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new GcnKdUserError($"{name} not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GcnKdUserError($"{name} could not be read: {e.Message}", e);
        }
    }
}
