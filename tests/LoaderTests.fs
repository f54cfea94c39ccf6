module GcnKd.Tests.LoaderTests
