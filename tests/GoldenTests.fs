module GcnKd.Tests.GoldenTests
