module GcnKd.Tests.NnOpsTests
