module GcnKd.Tests.ModelTests
